// Package svcmain holds the process plumbing shared by the service binaries
// in services/*/cmd: signal handling, exit codes, flag defaults from the
// environment and the JSON logger.
//
// It is imported only by package main. Library code never calls os.Exit or
// installs signal handlers; Main is the one place that does, on behalf of the
// binary that calls it.
package svcmain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/blob/s3blob"
	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
)

// Main runs run with the command-line arguments (without the program name)
// and os.Stderr, then exits the process. It does not return.
//
// The context given to run is cancelled by the first SIGINT or SIGTERM; the
// signal handlers are then removed, so a second signal kills the process.
//
// Exit codes: 0 when run returns nil or flag.ErrHelp (-h), 2 for a
// *UsageError (a bad command line, see Parse), 1 for any other error. On a
// non-zero exit Main prints "name: err" to stderr.
func Main(name string, run func(ctx context.Context, args []string, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process
	}()
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(report(os.Stderr, name, err))
}

// report prints "name: err" to w when err means failure and returns the exit
// code for err.
func report(w io.Writer, name string, err error) int {
	code := exitCode(err)
	if code != 0 {
		fmt.Fprintf(w, "%s: %v\n", name, err)
	}
	return code
}

// exitCode is the process exit code for the error returned by a run function.
func exitCode(err error) int {
	var usage *UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		return 2
	default:
		return 1
	}
}

// UsageError is a bad command line. Main exits with code 2 on it, as the flag
// package does with flag.ExitOnError.
type UsageError struct {
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Parse parses args with fs, which should use flag.ContinueOnError. It
// returns flag.ErrHelp unchanged for -h and -help, and wraps any other parse
// error in a *UsageError. The flag set has already printed the error and the
// usage to its output.
func Parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &UsageError{Err: err}
}

// Env returns the value of the environment variable key, or def when the
// variable is unset or empty. An empty value counts as unset, so
// `VAR= service` gets the default; to pass an empty value, use the flag.
func Env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Logger returns a logger writing JSON lines to w at level, which is one of
// debug, info, warn or error, in any case, optionally with an offset such as
// "debug-4" or "info+2" (see slog.Level.UnmarshalText).
func Logger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: must be debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// Conn is a service binary's NATS connection and JetStream context.
type Conn struct {
	NC *nats.Conn
	JS jetstream.JetStream
}

// ConnectJetStream connects to NATS as name, opens JetStream and, when
// ensureStreams is set, creates or updates the platform streams. Close the
// result with Close once the service has stopped.
func ConnectJetStream(ctx context.Context, url, name string, ensureStreams bool) (*Conn, error) {
	nc, err := bus.Connect(url, name)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if ensureStreams {
		if err := bus.EnsureStreams(ctx, js, bus.DefaultStreamsConfig()); err != nil {
			nc.Close()
			return nil, err
		}
	}
	return &Conn{NC: nc, JS: js}, nil
}

// Close flushes what the service published (bounded to 2 s) and closes the
// connection.
func (c *Conn) Close(log *slog.Logger) {
	if err := c.NC.FlushTimeout(2 * time.Second); err != nil && log != nil {
		log.Warn("flush nats connection", "err", err)
	}
	c.NC.Close()
}

// BlobFlags registers -blob and -env on fs: the blob store (a folder or an
// s3:// URL, see s3blob.Open) and the environment whose prefix every key
// lives under. Call OpenBlobs after parsing.
func BlobFlags(fs *flag.FlagSet) (location, env *string) {
	location = fs.String("blob", Env("HAP_BLOB", Env("BLOB_DIR", "var/hap/blobs")), "blob store: "+s3blob.Usage+" (env HAP_BLOB)")
	env = fs.String("env", Env("HAP_ENV", "dev"), "environment (dev, pilot, prod): keys live under <env>/ in the store (env HAP_ENV)")
	return location, env
}

// OpenBlobs opens the blob store at location under the environment's
// prefix. A folder store first removes the temporary files of writes that a
// crash interrupted.
func OpenBlobs(ctx context.Context, location, env string, log *slog.Logger) (blob.Store, error) {
	if err := proto.ValidToken(env); err != nil {
		return nil, &UsageError{Err: fmt.Errorf("-env %q: %v", env, err)}
	}
	base, err := s3blob.Open(ctx, location)
	if err != nil {
		return nil, err
	}
	if d, ok := base.(*blob.Dir); ok {
		if n, err := d.RemoveTemp(ctx, time.Hour); err != nil {
			return nil, err
		} else if n > 0 && log != nil {
			log.Info("removed temporary files of interrupted writes", "count", n)
		}
	}
	return blob.WithPrefix(base, env)
}
