// Package s3test starts a real S3 server (MinIO) for tests: Start runs
// "minio server" on loopback ports with a temporary data folder and random
// root credentials, waits until it serves, and stops it when the test ends.
// Stop and Restart (same ports, same data) let fault tests take S3 away
// during a run.
//
// The MinIO binary is built by scripts/fetch-minio.sh into .cache/bin/minio
// at the repository root; HAP_MINIO names another binary. Without the binary
// the test fails (it does not skip): tests must not pass without a real server.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/blob/s3blob"
)

// EnvBinary names the environment variable that overrides the MinIO binary.
const EnvBinary = "HAP_MINIO"

// Bounds on every wait.
const (
	readyTimeout = 30 * time.Second // from exec to a live, initialised server
	stopTimeout  = 10 * time.Second // from SIGTERM to exit, then SIGKILL
	killTimeout  = 5 * time.Second  // from SIGKILL to exit
	pollInterval = 25 * time.Millisecond
	startTries   = 3 // fresh ports when another process took one
)

// Server is a running MinIO server. Its methods are called from the test's
// goroutine (they call t.Fatal).
type Server struct {
	// Endpoint is the S3 API base URL, "http://127.0.0.1:PORT".
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey string
	SecretKey string

	tb          testing.TB
	bin         string
	dataDir     string
	certsDir    string
	logPath     string
	apiAddr     string
	consoleAddr string

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of the binary.
type process struct {
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{} // closed when Wait returns
	err    error         // Wait's result, valid after exited is closed
}

// Start starts a MinIO server for the test and stops it at cleanup. It fails
// the test if the binary is missing or the server is not ready in time.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	s := &Server{
		AccessKey: "hap-" + randomHex(8),
		SecretKey: randomHex(20),
		tb:        tb,
		bin:       bin,
		dataDir:   filepath.Join(dir, "data"),
		certsDir:  filepath.Join(dir, "certs"),
		logPath:   filepath.Join(dir, "minio.log"),
	}
	tb.Cleanup(func() {
		if err := s.stop(); err != nil {
			tb.Errorf("stop minio: %v", err)
		}
	})
	for try := 1; ; try++ {
		api, console, err := freePorts()
		if err != nil {
			tb.Fatalf("start minio: %v", err)
		}
		s.apiAddr, s.consoleAddr = api, console
		s.Endpoint = "http://" + api
		err = s.start()
		if err == nil {
			return s
		}
		if try == startTries || !strings.Contains(err.Error(), "address already in use") {
			tb.Fatalf("start minio: %v", err)
		}
		tb.Logf("start minio: port taken, trying others: %v", err)
	}
}

// Binary returns the path of the MinIO binary: $HAP_MINIO, else
// .cache/bin/minio under the repository root (the folder holding go.mod,
// found from the working directory upwards). The error says how to get it.
func Binary() (string, error) {
	const fix = "run scripts/fetch-minio.sh (it builds MinIO into .cache/bin/minio, ~5 min once) or set " + EnvBinary
	ciNote := ""
	if os.Getenv("CI") != "" {
		ciNote = " (CI: the setup step must run scripts/setup.sh, which calls scripts/fetch-minio.sh)"
	}
	if p := os.Getenv(EnvBinary); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("minio binary %s=%s: %w; %s%s", EnvBinary, p, err, fix, ciNote)
		}
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("find minio binary: %w; %s%s", err, fix, ciNote)
	}
	p := filepath.Join(root, ".cache", "bin", "minio")
	if err := executable(p); err != nil {
		return "", fmt.Errorf("minio binary %s: %w; tests need a real S3 server: %s%s", p, err, fix, ciNote)
	}
	return p, nil
}

func executable(p string) error {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errors.New("not found")
	case err != nil:
		return err
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return errors.New("not an executable file")
	}
	return nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// freePorts returns two distinct free loopback addresses. Another process
// may take one before MinIO binds it; Start then tries again.
func freePorts() (api, console string, err error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
	}
	return ls[0].Addr().String(), ls[1].Addr().String(), nil
}

// start runs the binary and waits until it serves S3 requests.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("already running")
	}
	log, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "server",
		"--address", s.apiAddr,
		"--console-address", s.consoleAddr,
		"--certs-dir", s.certsDir,
		"--quiet",
		s.dataDir)
	cmd.Env = append(withoutMinIOEnv(os.Environ()),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=on", // small buffer pool, no root-drive checks
	)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	logOffset, _ := log.Seek(0, io.SeekEnd)
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("run %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, log: log, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = p.log.Close()
		close(p.exited)
	}()
	s.proc = p
	began := time.Now()
	if err := s.waitReady(p); err != nil {
		_ = s.kill(p)
		s.proc = nil
		return fmt.Errorf("%w\n--- minio output ---\n%s", err, s.logSince(logOffset))
	}
	s.tb.Logf("s3test: minio ready on %s in %s", s.Endpoint, time.Since(began).Round(time.Millisecond))
	return nil
}

// withoutMinIOEnv drops MINIO_* variables that could reconfigure the server.
func withoutMinIOEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "MINIO_") {
			out = append(out, kv)
		}
	}
	return out
}

// waitReady polls the liveness endpoint until the server answers 200 without
// the "offline" status header that MinIO sets while its object layer starts.
func (s *Server) waitReady(p *process) error {
	client := &http.Client{Timeout: time.Second}
	url := s.Endpoint + "/minio/health/live"
	deadline := time.Now().Add(readyTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("minio exited before it was ready: %v", p.err)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.Header.Get("X-Minio-Server-Status") != "offline" {
				return nil
			}
			err = fmt.Errorf("GET %s: %s (status %q)", url, resp.Status, resp.Header.Get("X-Minio-Server-Status"))
		}
		last = err
		select {
		case <-p.exited:
		case <-time.After(pollInterval):
		}
	}
	return fmt.Errorf("minio not ready after %s: %v", readyTimeout, last)
}

// logSince returns the log written since offset, at most its last 4 KiB.
func (s *Server) logSince(offset int64) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil || offset > int64(len(b)) {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	b = b[offset:]
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// kill ends p: SIGTERM, then SIGKILL if it has not exited in time.
func (s *Server) kill(p *process) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
		return nil
	case <-time.After(killTimeout):
		return fmt.Errorf("minio (pid %d) still running %s after SIGKILL", p.cmd.Process.Pid, killTimeout)
	}
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	err := s.kill(s.proc)
	s.proc = nil
	return err
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s); its port then
// refuses connections. The data folder is kept for Restart. Stopping a
// stopped server does nothing.
func (s *Server) Stop() {
	s.tb.Helper()
	if err := s.stop(); err != nil {
		s.tb.Fatalf("stop minio: %v", err)
	}
}

// Restart stops the server if it runs and starts it again on the same ports
// with the same data and credentials, waiting until it serves.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.stop(); err != nil {
		s.tb.Fatalf("restart minio: %v", err)
	}
	if err := s.start(); err != nil {
		s.tb.Fatalf("restart minio on %s: %v", s.apiAddr, err)
	}
}

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return false
	}
	select {
	case <-s.proc.exited:
		return false
	default:
		return true
	}
}

// Config returns an s3blob.Config for bucket and prefix on this server, with
// its credentials, path-style addressing and the default retry budget. The
// caller may change it (retries, CreateBucket) before s3blob.New.
func (s *Server) Config(bucket, prefix string) s3blob.Config {
	cfg := s3blob.DefaultConfig()
	cfg.Bucket = bucket
	cfg.Prefix = prefix
	cfg.Endpoint = s.Endpoint
	cfg.Region = s3blob.DefaultRegion // MinIO's; not whatever AWS_REGION says
	cfg.UsePathStyle = true
	cfg.AccessKeyID = s.AccessKey
	cfg.SecretAccessKey = s.SecretKey
	return cfg
}

// URL returns the s3:// URL of bucket and prefix on this server, for
// s3blob.Open or a -blob flag; the credentials are in Env.
func (s *Server) URL(bucket, prefix string) string {
	cfg := s.Config(bucket, prefix)
	cfg.MaxAttempts, cfg.MaxBackoff = 0, 0
	return cfg.URL()
}

// Env returns the environment variables that give a process this server's
// credentials through the standard AWS chain.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s3blob.DefaultRegion,
	}
}

// NewStore returns a Store for bucket and prefix on this server, creating
// the bucket if needed. It fails the test on error.
func (s *Server) NewStore(tb testing.TB, bucket, prefix string) *s3blob.Store {
	tb.Helper()
	cfg := s.Config(bucket, prefix)
	cfg.CreateBucket = true
	ctx, cancel := context.WithTimeout(tb.Context(), readyTimeout)
	defer cancel()
	st, err := s3blob.New(ctx, cfg)
	if err != nil {
		tb.Fatalf("s3test: new store %s: %v", cfg.URL(), err)
	}
	return st
}
