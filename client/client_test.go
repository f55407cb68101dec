package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/client"
	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/proto"
	fbclient "github.com/healthcare-ai/platform/services/feedback/client"
	"github.com/healthcare-ai/platform/services/ingestor"
)

// fastRetry keeps the retry tests quick.
var fastRetry = client.WithRetry(client.Retry{Attempts: 3, Backoff: time.Millisecond, MaxWait: time.Second})

func newClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClientWireTypes keeps the client's copies of the ingestor's answers
// and problem types from drifting: same JSON fields, same type URIs.
func TestClientWireTypes(t *testing.T) {
	fields := func(v any) []string {
		var out []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			out = append(out, rt.Field(i).Tag.Get("json"))
		}
		return out
	}
	for _, tc := range []struct{ mine, theirs any }{
		{client.Prediction{}, ingestor.PredictResponse{}},
		{client.UploadReceipt{}, ingestor.UploadResponse{}},
	} {
		if a, b := fields(tc.mine), fields(tc.theirs); !reflect.DeepEqual(a, b) {
			t.Errorf("%T fields %v, %T has %v", tc.mine, a, tc.theirs, b)
		}
	}
	for mine, code := range map[string]string{
		client.ProblemUndecodable:       proto.RejectUndecodable,
		client.ProblemUnsupportedFormat: proto.RejectFormat,
		client.ProblemTooLarge:          proto.RejectTooLarge,
		client.ProblemTooSmall:          proto.RejectTooSmall,
		client.ProblemMissing:           proto.RejectMissing,
		client.ProblemTimeout:           ingestor.CodeTimeout,
		client.ProblemPredictionFailed:  ingestor.CodePredictionFailed,
		client.ProblemUnavailable:       ingestor.CodeUnavailable,
	} {
		if theirs := ingestor.ProblemType(code); mine != theirs {
			t.Errorf("client has %s, the ingestor answers %s", mine, theirs)
		}
	}
	for mine, theirs := range map[string]string{
		client.ProblemNotFound:                     problem.NotFound.Type(),
		client.ProblemInvalidRequest:               problem.InvalidRequest.Type(),
		"feedback " + client.ProblemInvalidRequest: "feedback " + fbclient.ProblemInvalid,
	} {
		if mine != theirs {
			t.Errorf("client has %s, the platform answers %s", mine, theirs)
		}
	}
}

func TestClientNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:8080", "ftp://x", "http://[::1", "http://"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
	c := newClient(t, "http://example.test:8080/prefix/")
	if c.BaseURL() != "http://example.test:8080/prefix" {
		t.Errorf("base %s", c.BaseURL())
	}
}

func TestClientDetectMediaType(t *testing.T) {
	dicom := make([]byte, 140)
	copy(dicom[128:], "DICM")
	for _, tc := range []struct {
		data []byte
		name string
		want string
	}{
		{[]byte{0xFF, 0xD8, 0xFF, 0xE0}, "x.png", client.MediaTypeJPEG}, // content wins
		{[]byte("\x89PNG\r\n\x1a\n...."), "", client.MediaTypePNG},
		{dicom, "", client.MediaTypeDICOM},
		{[]byte("garbage"), "scan.DCM", client.MediaTypeDICOM},
		{[]byte("garbage"), "a/b.JPG", client.MediaTypeJPEG},
		{[]byte("garbage"), "notes.txt", "application/octet-stream"},
	} {
		if got := client.DetectMediaType(tc.data, tc.name); got != tc.want {
			t.Errorf("DetectMediaType(%q, %q) = %s, want %s", tc.data[:min(8, len(tc.data))], tc.name, got, tc.want)
		}
	}
}

// TestClientRetries checks which answers are retried: idempotent calls on
// temporary answers, others only on 503 with Retry-After, always bounded.
func TestClientRetries(t *testing.T) {
	pred := `{"request_id":"r1","served_model_name":"m","model_version":"1","arm":"champion","label":"NORMAL","probability":0.1,"threshold":0.5}`
	cases := []struct {
		name     string
		call     func(c *client.Client) error
		answers  []func(w http.ResponseWriter) // one per attempt; the last repeats
		attempts int
		wantErr  int // status of the final problem; 0 for success
	}{
		{"get retried on 503", func(c *client.Client) error { _, err := c.Metrics(t.Context(), "e"); return err },
			[]func(http.ResponseWriter){unavailable(""), okJSON(`{"experiment":"e"}`)}, 2, 0},
		{"get retried on 502 until attempts run out", func(c *client.Client) error { _, err := c.Models(t.Context()); return err },
			[]func(http.ResponseWriter){textError(http.StatusBadGateway, "<html>bad gateway</html>")}, 3, http.StatusBadGateway},
		{"get not retried on 404", func(c *client.Client) error { _, err := c.Request(t.Context(), "x"); return err },
			[]func(http.ResponseWriter){problemAnswer(problem.NotFound.New("request_id", "no"))}, 1, http.StatusNotFound},
		{"predict retried on 503 with Retry-After", func(c *client.Client) error { _, err := c.Predict(t.Context(), []byte{0xFF, 0xD8, 0xFF}); return err },
			[]func(http.ResponseWriter){unavailable("0"), okJSON(pred)}, 2, 0},
		{"predict not retried on 503 without Retry-After", func(c *client.Client) error {
			_, err := c.Predict(t.Context(), []byte{0xFF, 0xD8, 0xFF})
			return err
		}, []func(http.ResponseWriter){textError(http.StatusServiceUnavailable, "busy")}, 1, http.StatusServiceUnavailable},
		{"predict not retried on 504", func(c *client.Client) error { _, err := c.Predict(t.Context(), []byte{0xFF, 0xD8, 0xFF}); return err },
			[]func(http.ResponseWriter){textError(http.StatusGatewayTimeout, "slow")}, 1, http.StatusGatewayTimeout},
		{"retry-after beyond MaxWait not waited for", func(c *client.Client) error { _, err := c.Upload(t.Context(), []byte{0xFF, 0xD8, 0xFF}); return err },
			[]func(http.ResponseWriter){unavailable("3600")}, 1, http.StatusServiceUnavailable},
		{"approve not retried on 500", func(c *client.Client) error { _, err := c.Approve(t.Context(), "e", "a", "b"); return err },
			[]func(http.ResponseWriter){problemAnswer(problem.Internal.New("", "boom"))}, 1, http.StatusInternalServerError},
		{"feedback retried on 503", func(c *client.Client) error { _, err := c.Feedback(t.Context(), "r1", "true-positive"); return err },
			[]func(http.ResponseWriter){unavailable("1"), okJSON(`{"feedback_id":"f","request_id":"r1","ground_truth":"PNEUMONIA"}`)}, 2, 0},
		{"feedback not retried on 400", func(c *client.Client) error { _, err := c.Feedback(t.Context(), "r1", "maybe"); return err },
			[]func(http.ResponseWriter){problemAnswer(problem.InvalidRequest.New("feedback_type", "no"))}, 1, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)) - 1
				tc.answers[min(i, len(tc.answers)-1)](w)
			}))
			defer srv.Close()
			err := tc.call(newClient(t, srv.URL, fastRetry))
			if got := int(n.Load()); got != tc.attempts {
				t.Errorf("%d attempts, want %d", got, tc.attempts)
			}
			if tc.wantErr == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var p *problem.Problem
			if !errors.As(err, &p) || p.Status != tc.wantErr {
				t.Fatalf("error %v (%T), want a problem with status %d", err, err, tc.wantErr)
			}
		})
	}
}

func okJSON(body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

func unavailable(retryAfter string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		// Not problem.Write: it adds a Retry-After to every 503.
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", problem.ContentType)
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(problem.Unavailable.New("", "try again"))
	}
}

func textError(status int, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { http.Error(w, body, status) }
}

func problemAnswer(p *problem.Problem) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { problem.Write(w, p) }
}

// TestClientProblemFallback: a body that is not problem JSON still gives a
// *problem.Problem with the status and the body text.
func TestClientProblemFallback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>upstream gone</html>", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, err := newClient(t, srv.URL, client.WithRetry(client.Retry{Attempts: 1})).Rollout(t.Context(), "pneumonia")
	var p *problem.Problem
	if !errors.As(err, &p) || p.Type != "about:blank" || p.Status != http.StatusBadGateway || p.Title != "Bad Gateway" ||
		p.Detail != "<html>upstream gone</html>" || !p.Temporary() {
		t.Fatalf("error %v: %+v", err, p)
	}
	// A JSON body with a type keeps its fields; the status is the answer's.
	p = client.ProblemFrom(http.StatusConflict, []byte(`{"type":"https://x/conflict","title":"Conflict","status":200,"field":"by"}`))
	if p.Type != "https://x/conflict" || p.Status != http.StatusConflict || p.Field != "by" {
		t.Fatalf("problem %+v", p)
	}
}

// TestClientTransportError: a refused connection names the call and keeps
// the cause; it is not a problem.
func TestClientTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := newClient(t, url, fastRetry)
	_, err := c.Metrics(t.Context(), "pneumonia")
	var p *problem.Problem
	if err == nil || errors.As(err, &p) || !strings.Contains(err.Error(), "GET "+url+"/v1/metrics/pneumonia") || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("error %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Predict(ctx, []byte{0xFF, 0xD8, 0xFF}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled predict: %v", err)
	}
}

// TestPredictBatchBounded checks that PredictBatch keeps at most workers
// requests in flight, emits every item once with its result or error, and
// stops pulling items when emit fails.
func TestPredictBatchBounded(t *testing.T) {
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, fh, err := r.FormFile("image")
		if err != nil || strings.Contains(fh.Filename, "bad") {
			problem.Write(w, &problem.Problem{Type: client.ProblemUndecodable, Title: "Image cannot be decoded", Status: 422, RequestID: "rej-" + fh.Filename})
			return
		}
		okJSON(fmt.Sprintf(`{"request_id":"req-%s","arm":"champion","label":"NORMAL"}`, fh.Filename))(w)
	}))
	defer srv.Close()
	dir := t.TempDir()
	var items []client.BatchItem
	for i := range 30 {
		name := fmt.Sprintf("img%02d.jpeg", i)
		if i%10 == 3 {
			name = fmt.Sprintf("bad%02d.jpeg", i)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte{0xFF, 0xD8, 0xFF, byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		items = append(items, client.BatchItem{Path: path, DatasetLabel: proto.LabelNormal})
	}
	items = append(items, client.BatchItem{Path: filepath.Join(dir, "missing.jpeg")})
	c := newClient(t, srv.URL)
	seen := map[int]bool{}
	failed := 0 // emit is called from one goroutine: no lock (-race checks the claim)
	err := c.PredictBatch(t.Context(), slices.Values(items), 4, func(r client.BatchResult) error {
		if seen[r.Seq] {
			t.Errorf("item %d emitted twice", r.Seq)
		}
		seen[r.Seq] = true
		if r.Path != items[r.Seq].Path || r.DatasetLabel != items[r.Seq].DatasetLabel {
			t.Errorf("result %d is for %s", r.Seq, r.Path)
		}
		switch {
		case r.Err != nil:
			failed++
		case r.Prediction.RequestID != "req-"+filepath.Base(r.Path):
			t.Errorf("%s: prediction %+v", r.Path, r.Prediction)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(items) || failed != 4 {
		t.Fatalf("%d results, %d failed; want %d, 4", len(seen), failed, len(items))
	}
	if p := peak.Load(); p > 4 || p < 2 {
		t.Errorf("peak of %d requests in flight with 4 workers", p)
	}

	// An emit error stops the batch: nothing more is emitted and no more
	// items are pulled (the workers may pull a few in the instant between
	// emit's return and the stop; all 31 would take 80 ms of requests).
	stop := errors.New("stop")
	var pulled atomic.Int32
	emitted, pulledAtStop := 0, int32(0)
	counting := func(yield func(client.BatchItem) bool) {
		for _, it := range items {
			pulled.Add(1)
			if !yield(it) {
				return
			}
		}
	}
	err = c.PredictBatch(t.Context(), counting, 2, func(r client.BatchResult) error {
		emitted++
		pulledAtStop = pulled.Load()
		return stop
	})
	if !errors.Is(err, stop) || emitted != 1 || pulled.Load() > pulledAtStop+2*2+1 {
		t.Fatalf("error %v after %d emitted; %d pulled when emit failed, %d in all", err, emitted, pulledAtStop, pulled.Load())
	}
}
