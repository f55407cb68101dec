package serving_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/model/onnxrt"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/registry"
	"github.com/healthcare-ai/platform/services/predictor"
	"github.com/healthcare-ai/platform/services/router"
	"github.com/healthcare-ai/platform/services/serving"
)

// The committed models: the champion takes 1x64x64, the challenger 1x128x128.
const (
	championModel   = "pneumonia-simplecnn"
	challengerModel = "pneumonia-resnet"
)

// env is a running platform slice: embedded JetStream, the registry seeded
// from models/, a predictor serving both arms, a router applying the
// experiment, and the serving endpoints on a loopback HTTP server.
type env struct {
	bus    *bustest.Env
	pred   *predictor.Service
	router *router.Service
	expKV  jetstream.KeyValue
	srv    *serving.Server
	http   *httptest.Server

	mu      sync.Mutex
	results []*proto.InferenceResult
}

func testLogger(tb testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: level}))
}

func initORT(tb testing.TB) {
	tb.Helper()
	lib, err := onnxrt.LibraryPath()
	if err != nil {
		tb.Fatal(err)
	}
	if err := onnxrt.Init(lib); err != nil {
		tb.Fatal(err)
	}
}

// start runs everything until the test ends; cfg configures the serving
// endpoints.
func start(tb testing.TB, cfg serving.Config) *env {
	tb.Helper()
	initORT(tb)
	e := &env{bus: bustest.Start(tb)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	reg, err := registry.Open(tb.Context(), e.bus.JS, registry.DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := reg.SeedFromDir(tb.Context(), "../../models", map[string]string{
		proto.ArmChampion: championModel + ".onnx", proto.ArmChallenger: challengerModel + ".onnx",
	}); err != nil {
		tb.Fatal(err)
	}
	blobs, err := blob.NewDir(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	e.pred, err = predictor.New(predictor.Config{Workers: 1},
		predictor.Deps{JS: e.bus.JS, Models: predictor.RegistrySource{Registry: reg}, Blobs: blobs, Log: testLogger(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	e.router, err = router.New(router.DefaultConfig(), router.Deps{JS: e.bus.JS, Logger: testLogger(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	for name, run := range map[string]func(context.Context) error{"predictor": e.pred.Run, "router": e.router.Run} {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				tb.Errorf("%s: %v", name, err)
			}
		})
	}
	bustest.CheckFor(tb, 30*time.Second, 10*time.Millisecond, func() error {
		if !e.pred.Ready() {
			return errors.New("predictor has not loaded both models")
		}
		if _, ok := e.router.Experiment(); !ok {
			return errors.New("router has not loaded the experiment")
		}
		return nil
	})
	if e.expKV, err = e.bus.JS.KeyValue(tb.Context(), proto.BucketExperiments); err != nil {
		tb.Fatal(err)
	}

	sub, err := e.bus.Conn.Subscribe(proto.InferenceResultsAll, func(m *nats.Msg) {
		var r proto.InferenceResult
		if err := proto.Decode(m.Data, &r); err != nil {
			tb.Errorf("undecodable result on %s: %v", m.Subject, err)
			return
		}
		if m.Subject != proto.InferenceResultSubject(r.Arm) {
			tb.Errorf("result for arm %s on subject %s", r.Arm, m.Subject)
		}
		e.mu.Lock()
		e.results = append(e.results, &r)
		e.mu.Unlock()
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.bus.Conn.Flush(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sub.Unsubscribe() })

	e.srv, err = serving.New(cfg, serving.Deps{Models: e.pred, Experiment: e.router, JS: e.bus.JS, Logger: testLogger(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	e.http = httptest.NewServer(e.srv.Handler())
	tb.Cleanup(e.http.Close)
	return e
}

// setSplit changes the experiment's split and waits until the router
// applies it; it returns the experiment applied.
func (e *env) setSplit(tb testing.TB, champion int) proto.Experiment {
	tb.Helper()
	split := proto.Split{Champion: champion, Challenger: 100 - champion}
	if _, err := router.SetSplit(tb.Context(), e.expKV, "pneumonia", split, "test", "serving test"); err != nil {
		tb.Fatal(err)
	}
	var exp proto.Experiment
	bustest.CheckFor(tb, 5*time.Second, 5*time.Millisecond, func() error {
		exp, _ = e.router.Experiment()
		if exp.Split != split {
			return fmt.Errorf("router applies %s, want %s", exp.Split, split)
		}
		return nil
	})
	return exp
}

// resultsFor waits for the results published under the given request ids
// (n per id: one per arm) and returns them by "<request_id>/<arm>".
func (e *env) resultsFor(tb testing.TB, perID int, ids ...string) map[string]*proto.InferenceResult {
	tb.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	got := map[string]*proto.InferenceResult{}
	bustest.CheckFor(tb, 5*time.Second, 5*time.Millisecond, func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		clear(got)
		for _, r := range e.results {
			if want[r.RequestID] {
				got[r.RequestID+"/"+r.Arm] = r
			}
		}
		if len(got) < perID*len(ids) {
			return fmt.Errorf("%d results for %d request ids, want %d", len(got), len(ids), perID*len(ids))
		}
		return nil
	})
	return got
}

// post sends body (any: marshalled to JSON; []byte: as is) and decodes a
// 200 answer into out, or returns the problem of an error answer.
func (e *env) post(tb testing.TB, path string, body any, out any) (*http.Response, *problem.Problem) {
	tb.Helper()
	return e.do(tb, http.MethodPost, path, "application/json", body, out)
}

func (e *env) do(tb testing.TB, method, path, contentType string, body any, out any) (*http.Response, *problem.Problem) {
	tb.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		data = b
	case string:
		data = []byte(b)
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			tb.Fatal(err)
		}
	}
	req, err := http.NewRequestWithContext(tb.Context(), method, e.http.URL+path, bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
			tb.Fatalf("%s %s: status %d with Content-Type %q, want %s: %s", method, path, resp.StatusCode, ct, problem.ContentType, raw)
		}
		var p problem.Problem
		if err := json.Unmarshal(raw, &p); err != nil {
			tb.Fatalf("%s %s: problem body %s: %v", method, path, raw, err)
		}
		if p.Status != resp.StatusCode || p.Title == "" || p.Detail == "" {
			tb.Errorf("%s %s: problem %+v with HTTP status %d", method, path, p, resp.StatusCode)
		}
		return resp, &p
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp, nil
}

// xray returns a w x h gray test image: a smooth pattern varied by seed.
func xray(w, h, seed int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := (x*seed + y*7 + (x*y)/(seed+3)) % 256
			img.SetGray(x, y, color.Gray{uint8(v)})
		}
	}
	return img
}

func jpegOf(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func pngOf(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func b64(data []byte) string { return base64.StdEncoding.EncodeToString(data) }

// tensorOf preprocesses an encoded image exactly as the arm's model does.
func (e *env) tensorOf(tb testing.TB, arm string, data []byte) []float32 {
	tb.Helper()
	_, md, ok := e.pred.Serving(arm)
	if !ok {
		tb.Fatalf("arm %s serves nothing", arm)
	}
	res, err := predictor.SpecOf(md).Decode(data)
	if err != nil {
		tb.Fatal(err)
	}
	return res.Tensor
}

// want returns the predictor's own probability for an encoded image.
func (e *env) want(tb testing.TB, arm string, data []byte) float64 {
	tb.Helper()
	p, err := e.pred.Predict(tb.Context(), arm, data)
	if err != nil {
		tb.Fatal(err)
	}
	return p.Probability
}

// nest reshapes flat values into nested rows of w (an HxW array).
func nest(values []float32, w int) [][]float32 {
	var rows [][]float32
	for i := 0; i < len(values); i += w {
		rows = append(rows, values[i:i+w])
	}
	return rows
}
