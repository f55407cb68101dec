package predictor_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/model/onnxrt"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/predictor"
)

// source is a real in-memory ModelSource whose aliases tests move.
type source struct {
	mu       sync.Mutex
	refs     map[string]predictor.ModelRef
	files    map[string][]byte
	watchers map[string][]func()
}

func newSource() *source {
	return &source{refs: map[string]predictor.ModelRef{}, files: map[string][]byte{}, watchers: map[string][]func(){}}
}

func (s *source) set(t *testing.T, alias, file, version string) {
	t.Helper()
	data, err := os.ReadFile("../../model/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.refs[alias] = predictor.ModelRef{Name: file, Version: version}
	s.files[alias] = data
	ws := append([]func(){}, s.watchers[alias]...)
	s.mu.Unlock()
	for _, fn := range ws {
		fn()
	}
}

func (s *source) Resolve(ctx context.Context, alias string) (predictor.ModelRef, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, ok := s.refs[alias]
	if !ok {
		return predictor.ModelRef{}, nil, fmt.Errorf("alias %s: not set", alias)
	}
	return ref, s.files[alias], nil
}

func (s *source) Watch(ctx context.Context, alias string, fn func()) error {
	s.mu.Lock()
	s.watchers[alias] = append(s.watchers[alias], fn)
	s.mu.Unlock()
	<-ctx.Done()
	return nil
}

func jpegBytes(t *testing.T, seed int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 300, 260))
	for y := range 260 {
		for x := range 300 {
			img.SetGray(x, y, color.Gray{uint8((x*seed + y*7) % 256)})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type harness struct {
	env     *bustest.Env
	blobs   *blob.Dir
	src     *source
	results chan *proto.InferenceResult
}

func start(t *testing.T) (*harness, context.CancelFunc, <-chan error) {
	t.Helper()
	lib, err := onnxrt.LibraryPath()
	if err != nil {
		t.Fatal(err)
	}
	if err := onnxrt.Init(lib); err != nil {
		t.Fatal(err)
	}
	h := &harness{env: bustest.Start(t), src: newSource(), results: make(chan *proto.InferenceResult, 1000)}
	h.blobs, err = blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h.src.set(t, proto.ArmChampion, "tiny-cnn.onnx", "1")
	h.src.set(t, proto.ArmChallenger, "tiny-sigmoid.onnx", "1")
	sub, err := h.env.Conn.Subscribe(proto.InferenceResultsAll, func(m *nats.Msg) {
		var r proto.InferenceResult
		if err := proto.Decode(m.Data, &r); err != nil {
			t.Errorf("bad result: %v", err)
			return
		}
		h.results <- &r
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	svc, err := predictor.New(predictor.Config{Workers: 2}, predictor.Deps{JS: h.env.JS, Models: h.src, Blobs: h.blobs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx) }()
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !svc.Ready() {
			return fmt.Errorf("predictor not ready")
		}
		return nil
	})
	return h, cancel, errc
}

func (h *harness) request(t *testing.T, id, arm, key string, data []byte) {
	t.Helper()
	h.requestIn(t, 0, id, arm, key, data)
}

// requestIn publishes a request routed in an experiment epoch.
func (h *harness) requestIn(t *testing.T, epoch int, id, arm, key string, data []byte) {
	t.Helper()
	if data != nil {
		if err := h.blobs.Put(t.Context(), key, data); err != nil {
			t.Fatal(err)
		}
	}
	req := &proto.InferenceRequest{RequestID: id, Arm: arm, Served: true, Experiment: "pneumonia",
		ConfiguredSplit: proto.Split{Champion: 50, Challenger: 50}, Epoch: epoch, Image: proto.ImageRef{Key: key}}
	if _, err := bus.Publish(t.Context(), h.env.JS, proto.InferenceRequestSubject(arm), req); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) collect(t *testing.T, n int) map[string]*proto.InferenceResult {
	t.Helper()
	got := map[string]*proto.InferenceResult{}
	timeout := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case r := <-h.results:
			k := r.RequestID + "/" + r.Arm
			if _, dup := got[k]; dup {
				t.Errorf("duplicate result for %s", k)
			}
			got[k] = r
		case <-timeout:
			t.Fatalf("got %d of %d results", len(got), n)
		}
	}
	return got
}

func TestPredictorResultsAndErrors(t *testing.T) {
	h, cancel, errc := start(t)
	h.requestIn(t, 3, "ok-1", proto.ArmChampion, "img/1.jpeg", jpegBytes(t, 3))
	h.requestIn(t, 4, "ok-2", proto.ArmChallenger, "img/2.jpeg", jpegBytes(t, 5))
	h.requestIn(t, 5, "bad", proto.ArmChampion, "img/bad.jpeg", []byte("this is not an image"))
	h.requestIn(t, 6, "missing", proto.ArmChallenger, "img/missing.jpeg", nil)
	got := h.collect(t, 4)
	// Every result, failed ones too, carries the epoch its request was routed in.
	for k, want := range map[string]int{"ok-1/champion": 3, "ok-2/challenger": 4, "bad/champion": 5, "missing/challenger": 6} {
		if r := got[k]; r.Epoch != want || r.Experiment != "pneumonia" || r.ConfiguredSplit != (proto.Split{Champion: 50, Challenger: 50}) {
			t.Errorf("%s: epoch %d experiment %q split %s, want epoch %d of pneumonia 50/50", k, r.Epoch, r.Experiment, r.ConfiguredSplit, want)
		}
	}
	for _, k := range []string{"ok-1/champion", "ok-2/challenger"} {
		r := got[k]
		if r.Status != proto.StatusOK || r.StatusCode != 200 {
			t.Fatalf("%s: status %s %d (%s)", k, r.Status, r.StatusCode, r.Error)
		}
		wantLabel := proto.LabelNormal
		if r.Probability >= r.Threshold {
			wantLabel = proto.LabelPneumonia
		}
		if r.Label != wantLabel || r.Probability < 0 || r.Probability > 1 {
			t.Errorf("%s: label %s for p=%v threshold %v", k, r.Label, r.Probability, r.Threshold)
		}
		if r.LatencyMS <= 0 || r.CompletedAt.IsZero() {
			t.Errorf("%s: latency %v completed %v", k, r.LatencyMS, r.CompletedAt)
		}
	}
	if got["ok-1/champion"].ModelName != "tiny-cnn.onnx" || got["ok-2/challenger"].ModelName != "tiny-sigmoid.onnx" {
		t.Errorf("served models: %s, %s", got["ok-1/champion"].ModelName, got["ok-2/challenger"].ModelName)
	}
	if r := got["bad/champion"]; r.Status != proto.StatusError || r.StatusCode != 400 || r.Error == "" {
		t.Errorf("bad image: %+v", r)
	}
	if r := got["missing/challenger"]; r.Status != proto.StatusError || r.StatusCode != 404 {
		t.Errorf("missing image: %+v", r)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestPredictorSwapsModelWithoutDroppingRequests(t *testing.T) {
	h, cancel, errc := start(t)
	defer func() {
		cancel()
		<-errc
	}()
	img := jpegBytes(t, 11)
	const n = 200
	for i := range n {
		if i == n/2 {
			h.src.set(t, proto.ArmChampion, "tiny-sigmoid.onnx", "2")
		}
		h.request(t, fmt.Sprintf("r%d", i), proto.ArmChampion, fmt.Sprintf("img/%d.jpeg", i), img)
	}
	got := h.collect(t, n)
	versions := map[string]int{}
	for _, r := range got {
		if r.Status != proto.StatusOK {
			t.Fatalf("%s: %s %s", r.RequestID, r.Status, r.Error)
		}
		versions[r.ModelName+"@"+r.ModelVersion]++
	}
	if versions["tiny-sigmoid.onnx@2"] == 0 {
		t.Errorf("no request served by the new model after the alias moved: %v", versions)
	}
	// The last request was published well after the move: it must use the new model.
	attempt := 0
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		attempt++
		id := fmt.Sprintf("after-%d", attempt)
		h.request(t, id, proto.ArmChampion, "img/after.jpeg", img)
		r := h.collect(t, 1)[id+"/champion"]
		if r.ModelVersion != "2" {
			return fmt.Errorf("request after the move served by %s@%s", r.ModelName, r.ModelVersion)
		}
		return nil
	})
}
