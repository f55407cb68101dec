package s3blob_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/blob/blobtest"
	"github.com/healthcare-ai/platform/blob/s3blob"
	"github.com/healthcare-ai/platform/blob/s3test"
)

// TestS3 runs everything that needs a healthy server against one MinIO.
func TestS3(t *testing.T) {
	srv := s3test.Start(t)
	t.Run("Conformance", func(t *testing.T) {
		blobtest.Run(t, srv.NewStore(t, "conformance", ""))
	})
	t.Run("ConformanceWithPrefix", func(t *testing.T) {
		// Same bucket as above: the prefix keeps the two apart.
		blobtest.Run(t, srv.NewStore(t, "conformance", "hap/dev"))
	})
	t.Run("PrefixesShareABucket", func(t *testing.T) { testPrefixes(t, srv) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, srv) })
	t.Run("MissingBucket", func(t *testing.T) { testMissingBucket(t, srv) })
	t.Run("WrongCredentials", func(t *testing.T) { testWrongCredentials(t, srv) })
	t.Run("CorruptUploadFails", func(t *testing.T) { testCorruptUpload(t, srv) })
	t.Run("CorruptDownloadFails", func(t *testing.T) { testCorruptDownload(t, srv) })
	t.Run("ListPaginates", func(t *testing.T) { testListPages(t, srv) })
	t.Run("OpenURL", func(t *testing.T) { testOpenURL(t, srv) })
}

func testPrefixes(t *testing.T, srv *s3test.Server) {
	ctx := t.Context()
	dev := srv.NewStore(t, "shared", "hap/dev")
	pilot := srv.NewStore(t, "shared", "hap/pilot/") // trailing '/' is optional
	root := srv.NewStore(t, "shared", "")
	key := "bronze/images/date=2026-11-28/abc.jpeg"
	if err := dev.Put(ctx, key, []byte("dev")); err != nil {
		t.Fatal(err)
	}
	if err := pilot.Put(ctx, key, []byte("pilot")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s    *s3blob.Store
		want string
		uri  string
	}{
		{dev, "dev", "s3://shared/hap/dev/" + key},
		{pilot, "pilot", "s3://shared/hap/pilot/" + key},
	} {
		got, err := tc.s.Get(ctx, key)
		if err != nil || string(got) != tc.want {
			t.Errorf("Get from prefix %q = %q, %v; want %q", tc.s.Prefix(), got, err, tc.want)
		}
		infos, err := tc.s.List(ctx, "")
		if err != nil || len(infos) != 1 || infos[0].Key != key {
			t.Errorf("List from prefix %q = %+v, %v; want only %s", tc.s.Prefix(), infos, err, key)
		}
		if u := tc.s.URI(key); u != tc.uri {
			t.Errorf("URI = %s, want %s", u, tc.uri)
		}
	}
	infos, err := root.List(ctx, "hap/")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"hap/dev/" + key, "hap/pilot/" + key}
	if got := infoKeys(infos); !slices.Equal(got, want) {
		t.Errorf("List without prefix = %q, want %q", got, want)
	}
}

func infoKeys(infos []blob.Info) []string {
	var ks []string
	for _, in := range infos {
		ks = append(ks, in.Key)
	}
	return ks
}

func testDelete(t *testing.T, srv *s3test.Server) {
	ctx := t.Context()
	s := srv.NewStore(t, "delete", "hap/dev")
	key := "silver/small/part-1.parquet"
	if err := s.Put(ctx, key, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if ok, err := s.Exists(ctx, key); err != nil || ok {
		t.Fatalf("Exists after Delete = %v, %v; want false, nil", ok, err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Errorf("Delete of a missing key = %v, want nil (idempotent)", err)
	}
	if err := s.Delete(ctx, "../x"); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("Delete(../x) = %v, want ErrInvalidKey", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Delete(cctx, key); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with cancelled context = %v, want context.Canceled", err)
	}
}

func testMissingBucket(t *testing.T, srv *s3test.Server) {
	ctx := t.Context()
	cfg := srv.Config("no-such-bucket", "hap/dev")
	_, err := s3blob.New(ctx, cfg)
	if !errors.Is(err, s3blob.ErrBucketNotFound) {
		t.Fatalf("New for a missing bucket: error = %v, want ErrBucketNotFound", err)
	}
	for _, want := range []string{`"no-such-bucket"`, srv.Endpoint, "create_bucket=true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	t.Logf("missing bucket: %v", err)

	// A bucket removed after New: calls fail with a bucket error, never
	// with ErrNotFound (which would make Exists report false).
	s := srv.NewStore(t, "removed-later", "")
	raw := rawClient(t, srv)
	if _, err := raw.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("removed-later")}); err != nil {
		t.Fatal(err)
	}
	_, getErr := s.Get(ctx, "a/b")
	_, statErr := s.Stat(ctx, "a/b")
	_, existsErr := s.Exists(ctx, "a/b")
	_, listErr := s.List(ctx, "a/")
	putErr := s.Put(ctx, "a/b", []byte("x"))
	for name, err := range map[string]error{"Get": getErr, "Stat": statErr, "Exists": existsErr, "List": listErr, "Put": putErr} {
		if !errors.Is(err, s3blob.ErrBucketNotFound) || errors.Is(err, blob.ErrNotFound) {
			t.Errorf("%s in a removed bucket: error = %v, want ErrBucketNotFound and not ErrNotFound", name, err)
		}
	}
}

func testWrongCredentials(t *testing.T, srv *s3test.Server) {
	cfg := srv.Config("conformance", "")
	cfg.SecretAccessKey = "wrong-secret"
	_, err := s3blob.New(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "access denied (check the credentials") {
		t.Fatalf("New with a wrong secret: error = %v, want access denied", err)
	}
}

// rawClient is an SDK client for setting up states that the Store cannot make.
func rawClient(t *testing.T, srv *s3test.Server) *s3.Client {
	t.Helper()
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(srv.Endpoint),
		Region:       s3blob.DefaultRegion,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
}

// faultTransport passes requests to the server, optionally flipping a bit of
// an object's bytes on the way up or down, and counts failed round trips.
type faultTransport struct {
	corruptPut, corruptGet atomic.Bool
	failures               atomic.Int64

	mu        sync.Mutex
	putHeader http.Header
}

func (f *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	isObject := strings.Count(strings.TrimPrefix(req.URL.Path, "/"), "/") >= 1
	if req.Method == http.MethodPut && isObject {
		f.mu.Lock()
		f.putHeader = req.Header.Clone()
		f.mu.Unlock()
		if f.corruptPut.Load() && req.Body != nil {
			b, err := io.ReadAll(req.Body)
			_ = req.Body.Close()
			if err != nil {
				return nil, err
			}
			if len(b) > 0 {
				b[len(b)/2] ^= 0x01
			}
			req.Body = io.NopCloser(bytes.NewReader(b))
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		f.failures.Add(1)
		return nil, err
	}
	if req.Method == http.MethodGet && isObject && f.corruptGet.Load() && resp.StatusCode == http.StatusOK {
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(b) > 0 {
			b[len(b)/2] ^= 0x01
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, nil
}

func faultyStore(t *testing.T, srv *s3test.Server, bucket string, edit func(*s3blob.Config)) (*s3blob.Store, *faultTransport) {
	t.Helper()
	ft := &faultTransport{}
	cfg := srv.Config(bucket, "hap/dev")
	cfg.CreateBucket = true
	cfg.HTTPClient = &http.Client{Transport: ft}
	if edit != nil {
		edit(&cfg)
	}
	s, err := s3blob.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, ft
}

func testCorruptUpload(t *testing.T, srv *s3test.Server) {
	ctx := t.Context()
	s, ft := faultyStore(t, srv, "integrity", nil)
	data := bytes.Repeat([]byte("chest x-ray "), 1000)
	key := "bronze/corrupt-up.jpeg"
	if err := s.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
	ft.mu.Lock()
	h := ft.putHeader
	ft.mu.Unlock()
	md, sum := md5.Sum(data), sha256.Sum256(data)
	if got, want := h.Get("Content-Md5"), base64.StdEncoding.EncodeToString(md[:]); got != want {
		t.Errorf("Put sent Content-MD5 %q, want %q", got, want)
	}
	if got, want := h.Get("X-Amz-Checksum-Sha256"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("Put sent x-amz-checksum-sha256 %q, want %q", got, want)
	}

	ft.corruptPut.Store(true)
	err := s.Put(ctx, "bronze/corrupt-up-2.jpeg", data)
	ft.corruptPut.Store(false)
	if err == nil {
		t.Fatal("Put with bytes changed in transit succeeded")
	}
	t.Logf("corrupted upload: %v", err)
	if ok, err := s.Exists(ctx, "bronze/corrupt-up-2.jpeg"); err != nil || ok {
		t.Errorf("object exists (%v, %v) after a corrupted upload", ok, err)
	}
}

func testCorruptDownload(t *testing.T, srv *s3test.Server) {
	ctx := t.Context()
	s, ft := faultyStore(t, srv, "integrity", nil)
	data := bytes.Repeat([]byte("chest x-ray "), 1000)
	key := "bronze/corrupt-down.jpeg"
	if err := s.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
	ft.corruptGet.Store(true)
	got, err := s.Get(ctx, key)
	ft.corruptGet.Store(false)
	if err == nil {
		t.Fatalf("Get of bytes changed in transit succeeded (%d bytes, equal: %v)", len(got), bytes.Equal(got, data))
	}
	t.Logf("corrupted download: %v", err)
	if got, err := s.Get(ctx, key); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("clean Get = %d bytes, %v", len(got), err)
	}
}

func testListPages(t *testing.T, srv *s3test.Server) {
	// More objects than one ListObjectsV2 page (1000 keys).
	ctx := t.Context()
	s := srv.NewStore(t, "pages", "hap/dev")
	const n = 1100
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var failed atomic.Int64
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			key := fmt.Sprintf("many/%04d", i)
			if err := s.Put(ctx, key, []byte{byte(i)}); err != nil {
				failed.Add(1)
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	infos, err := s.List(ctx, "many/")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != n {
		t.Fatalf("List returned %d objects, want %d", len(infos), n)
	}
	if !slices.IsSortedFunc(infos, func(a, b blob.Info) int { return strings.Compare(a.Key, b.Key) }) {
		t.Fatal("List is not sorted")
	}
}

func testOpenURL(t *testing.T, srv *s3test.Server) {
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	u := srv.URL("opened", "hap/dev")
	st, err := s3blob.Open(t.Context(), u+"&create_bucket=true")
	if err != nil {
		t.Fatalf("Open(%q): %v", u, err)
	}
	s, ok := st.(*s3blob.Store)
	if !ok || s.Bucket() != "opened" || s.Prefix() != "hap/dev" {
		t.Fatalf("Open(%q) = %T %v", u, st, st)
	}
	if err := s.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
}

// TestOutage stops the server under a store and shows what the retry budget
// can and cannot cover.
func TestOutage(t *testing.T) {
	srv := s3test.Start(t)
	ctx := t.Context()
	key := "bronze/outage.jpeg"
	data := []byte("image bytes")

	// A budget of 3 attempts waits at most 0.05 + 0.1 s: far shorter than an
	// outage, so the call fails with an error that says what happened.
	short, _ := faultyStore(t, srv, "outage", func(c *s3blob.Config) { c.MaxAttempts = 3; c.MaxBackoff = 100 * time.Millisecond })
	// A budget of 20 attempts with waits up to 1 s (19 waits, each uniform in
	// [0, min(0.05 s * 2^i, 1 s)]) covers 7.8 s on average and less than 2 s
	// with probability 3e-9 (less than 3 s: 2e-6), while MinIO restarts in
	// under 1 s here. The Put returns at most 1 s after the restart.
	long, ft := faultyStore(t, srv, "outage", func(c *s3blob.Config) { c.MaxAttempts = 20; c.MaxBackoff = time.Second })
	if err := long.Put(ctx, "before", data); err != nil {
		t.Fatal(err)
	}

	srv.Stop()

	t.Run("OutageLongerThanBudgetFails", func(t *testing.T) {
		start := time.Now()
		err := short.Put(ctx, key, data)
		elapsed := time.Since(start)
		var maxErr *retry.MaxAttemptsError
		if !errors.As(err, &maxErr) || maxErr.Attempt != 3 {
			t.Fatalf("Put while S3 is down: error = %v, want it to give up after 3 attempts", err)
		}
		for _, want := range []string{"s3://outage/hap/dev/" + key, "connection refused"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		if errors.Is(err, blob.ErrNotFound) {
			t.Error("an outage must not look like a missing object")
		}
		if elapsed > 2*time.Second {
			t.Errorf("Put took %s to give up, want well under 2 s", elapsed)
		}
		t.Logf("gave up after %s: %v", elapsed.Round(time.Millisecond), err)
	})

	t.Run("ContextEndsRetries", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := long.Put(cctx, key, data)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Put with a 300 ms deadline while S3 is down = %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("Put returned %s after its deadline", elapsed-300*time.Millisecond)
		}
	})

	t.Run("ShortOutageIsRetried", func(t *testing.T) {
		before := ft.failures.Load()
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- long.Put(ctx, key, data) }()
		// Restart only once the Put has seen the outage twice.
		deadline := time.Now().Add(5 * time.Second)
		for ft.failures.Load() < before+2 {
			if time.Now().After(deadline) {
				t.Fatal("Put did not try the stopped server twice in 5 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
		srv.Restart()
		restarted := time.Since(start)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Put across a %s outage: %v", restarted.Round(time.Millisecond), err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Put did not return within 15 s of the restart")
		}
		t.Logf("Put succeeded %s after it started; server back after %s; %d failed attempts",
			time.Since(start).Round(time.Millisecond), restarted.Round(time.Millisecond), ft.failures.Load()-before)
		for _, k := range []string{"before", key} {
			if got, err := long.Get(ctx, k); err != nil || !bytes.Equal(got, data) {
				t.Errorf("Get(%s) after restart = %q, %v", k, got, err)
			}
		}
	})
}
