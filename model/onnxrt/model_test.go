package onnxrt_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/healthcare-ai/platform/model"
	"github.com/healthcare-ai/platform/model/onnxrt"
)

// initRuntime initialises ONNX Runtime from the library found by LibraryPath.
// A missing library fails the test: `make test` fetches it first.
func initRuntime(tb testing.TB) {
	tb.Helper()
	path, err := onnxrt.LibraryPath()
	if err != nil {
		tb.Fatal(err)
	}
	if err := onnxrt.Init(path); err != nil {
		tb.Fatal(err)
	}
}

func testdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func load(tb testing.TB, name string, opts onnxrt.Options) *onnxrt.Model {
	tb.Helper()
	initRuntime(tb)
	m, err := onnxrt.Load(testdata(tb, name), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// image returns a 64x64 one-channel test image whose pixels are multiples of
// 1/256 in [-0.5, 0.5), so that float32 sums are exact, and its mean.
func image(seed int) ([]float32, float64) {
	x := make([]float32, 64*64)
	var sum float64
	for j := range x {
		k := (j*7+seed*131+(j/64)*seed)%256 - 128
		x[j] = float32(k) / 256
		sum += float64(x[j])
	}
	return x, sum / float64(len(x))
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// The functions computed by the models of testdata/make_models.py.
var fixtures = []struct {
	file string
	p    func(mean float64) float64
}{
	{"tiny-sigmoid.onnx", func(m float64) float64 { return sigmoid(4*m - 2) }},
	{"tiny-softmax.onnx", func(m float64) float64 { return sigmoid(3*m - 1) }},
	{"tiny-logit.onnx", func(m float64) float64 { return sigmoid(-4*m + 1) }},
}

func TestPredictMatchesAnalytic(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.file, func(t *testing.T) {
			m := load(t, f.file, onnxrt.Options{})
			const n = 40
			var batch []float32
			want := make([]float64, n)
			for i := range n {
				x, mean := image(i)
				batch = append(batch, x...)
				want[i] = f.p(mean)
			}
			// Constant images at the extremes, where sigmoid saturates least gracefully.
			for i, v := range []float32{-0.5, 0.5} {
				for j := range 64 * 64 {
					batch[(i*64*64)+j] = v
				}
				want[i] = f.p(float64(v))
			}
			got, err := m.Predict(t.Context(), batch, n)
			if err != nil {
				t.Fatal(err)
			}
			spread := map[string]int{}
			for i := range n {
				if math.Abs(got[i]-want[i]) > 1e-6 {
					t.Errorf("item %d: P = %.9f, want %.9f (diff %.2g)", i, got[i], want[i], got[i]-want[i])
				}
				spread[m.Label(got[i])]++
			}
			if len(spread) != 2 {
				t.Errorf("test images are all labelled %v; want both labels", spread)
			}
			// PredictOne agrees with the batch.
			x, _ := image(7)
			p, err := m.PredictOne(t.Context(), x)
			if err != nil {
				t.Fatal(err)
			}
			if p != got[7] {
				t.Errorf("PredictOne = %v, batch item 7 = %v", p, got[7])
			}
			if m.WarmUpLatency() <= 0 {
				t.Errorf("WarmUpLatency() = %v", m.WarmUpLatency())
			}
		})
	}
}

func TestMetadataAndSignature(t *testing.T) {
	m := load(t, "tiny-sigmoid.onnx", onnxrt.Options{})
	card, err := model.DecodeMetadata(testdata(t, model.CardFileName("tiny-sigmoid")))
	if err != nil {
		t.Fatal(err)
	}
	md := m.Metadata()
	if !reflect.DeepEqual(md, card) {
		t.Errorf("Metadata() = %+v\nwant the model card %+v", md, card)
	}
	md.Labels[0] = "changed" // a copy: must not change the model
	if got := m.Label(0); got != "NORMAL" {
		t.Errorf("Label(0) = %q after changing a copy of the metadata", got)
	}
	if m.ItemSize() != 64*64 {
		t.Errorf("ItemSize() = %d", m.ItemSize())
	}
	want := onnxrt.Signature{
		Inputs:  []onnxrt.TensorInfo{{Name: "image", Datatype: "FP32", Shape: []int64{-1, 1, 64, 64}}},
		Outputs: []onnxrt.TensorInfo{{Name: "prob", Datatype: "FP32", Shape: []int64{-1, 1}}},
	}
	if got := m.Signature(); !reflect.DeepEqual(got, want) {
		t.Errorf("Signature() = %+v, want %+v", got, want)
	}
	var _ model.Predictor = m
}

func TestLoadErrors(t *testing.T) {
	initRuntime(t)
	valid := testdata(t, "tiny-sigmoid.onnx")
	tests := []struct {
		name string
		data []byte
		opts onnxrt.Options
		want []string
		is   error
	}{
		{name: "no metadata", data: testdata(t, "tiny-nometa.onnx"),
			want: []string{"load model: no hap.metadata in ONNX metadata_props (keys found: none)"}, is: model.ErrNoMetadata},
		{name: "channel mismatch", data: testdata(t, "tiny-mismatch.onnx"),
			want: []string{"load model tiny-mismatch 0.0.1: graph does not match metadata", `input "image" has shape [-1 3 64 64]`, "dim 1 (channels) is 3, preprocess.channels is 1"}},
		{name: "empty", data: nil, want: []string{"load model: ONNX data is empty"}},
		{name: "garbage", data: []byte("this is not an ONNX model"), want: []string{"load model: not a loadable ONNX model (25 bytes)"}},
		{name: "truncated", data: valid[:len(valid)/2], want: []string{"load model: not a loadable ONNX model"}},
		{name: "negative threads", data: valid, opts: onnxrt.Options{IntraOpThreads: -1}, want: []string{"IntraOpThreads -1: must be >= 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := onnxrt.Load(tt.data, tt.opts)
			if err == nil {
				m.Close()
				t.Fatal("Load() succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load() = %q\nwant it to contain %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	initRuntime(t)
	m, err := onnxrt.LoadFile(filepath.Join("..", "testdata", "tiny-softmax.onnx"), onnxrt.Options{IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.Metadata().Output; got != model.OutputSoftmax {
		t.Errorf("Output = %q", got)
	}
	_, err = onnxrt.LoadFile(filepath.Join("..", "testdata", "tiny-nometa.onnx"), onnxrt.Options{})
	if err == nil || !strings.Contains(err.Error(), "tiny-nometa.onnx: load model: no hap.metadata") {
		t.Errorf("LoadFile(no metadata) = %v", err)
	}
	_, err = onnxrt.LoadFile("does-not-exist.onnx", onnxrt.Options{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile(missing) = %v, want ErrNotExist", err)
	}
}

func TestPredictInputErrors(t *testing.T) {
	m := load(t, "tiny-sigmoid.onnx", onnxrt.Options{})
	x, _ := image(1)
	tests := []struct {
		name  string
		batch []float32
		n     int
		want  string
	}{
		{"short", x[:100], 1, "predict: batch has 100 values, want n*C*H*W = 1*1*64*64 = 4096"},
		{"n too big", x, 2, "predict: batch has 4096 values, want n*C*H*W = 2*1*64*64 = 8192"},
		{"n too small", append(x, x...), 1, "batch has 8192 values, want n*C*H*W = 1*1*64*64 = 4096"},
		{"n zero", nil, 0, "predict: n = 0: must be >= 1"},
		{"n negative", x, -1, "predict: n = -1: must be >= 1"},
		{"NaN input", func() []float32 { y := append([]float32(nil), x...); y[5] = float32(math.NaN()); return y }(), 1,
			`predict: output "prob" item 0: P(PNEUMONIA) = NaN is not in [0, 1]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Predict(t.Context(), tt.batch, tt.n)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Predict() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := m.PredictOne(t.Context(), x[1:]); err == nil {
		t.Error("PredictOne(short) succeeded")
	}
}

func TestPredictCancelled(t *testing.T) {
	m := load(t, "tiny-sigmoid.onnx", onnxrt.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	x, _ := image(1)
	if _, err := m.Predict(ctx, x, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Predict(cancelled) = %v, want context.Canceled", err)
	}
	// Without cancellation support (context.Background) Predict still works.
	if _, err := m.Predict(context.Background(), x, 1); err != nil {
		t.Error(err)
	}
}

func TestConcurrentPredict(t *testing.T) {
	m := load(t, "tiny-softmax.onnx", onnxrt.Options{})
	const goroutines, iterations = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range iterations {
				n := 1 + (g+i)%5
				batch := make([]float32, 0, n*64*64)
				want := make([]float64, n)
				for k := range n {
					x, mean := image(g*1000 + i*10 + k)
					batch = append(batch, x...)
					want[k] = sigmoid(3*mean - 1)
				}
				got, err := m.Predict(t.Context(), batch, n)
				if err != nil {
					errs <- err
					return
				}
				for k := range n {
					if math.Abs(got[k]-want[k]) > 1e-6 {
						errs <- fmt.Errorf("goroutine %d iteration %d item %d: P = %v, want %v", g, i, k, got[k], want[k])
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestClose(t *testing.T) {
	initRuntime(t)
	m, err := onnxrt.Load(testdata(t, "tiny-sigmoid.onnx"), onnxrt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := image(3)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
	if _, err := m.Predict(t.Context(), x, 1); !errors.Is(err, onnxrt.ErrClosed) {
		t.Errorf("Predict after Close = %v, want ErrClosed", err)
	}
	if _, err := m.PredictOne(t.Context(), x); !errors.Is(err, onnxrt.ErrClosed) {
		t.Errorf("PredictOne after Close = %v, want ErrClosed", err)
	}
	if m.Metadata().Name != "tiny-sigmoid" || m.Label(0.9) != "PNEUMONIA" {
		t.Error("Metadata and Label must keep working after Close")
	}
}

// TestCloseWhilePredicting closes a model under concurrent Predict calls:
// every call either succeeds or returns ErrClosed, none crashes.
func TestCloseWhilePredicting(t *testing.T) {
	initRuntime(t)
	m, err := onnxrt.Load(testdata(t, "tiny-sigmoid.onnx"), onnxrt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := image(3)
	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	for range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				_, err := m.Predict(t.Context(), x, 1)
				if i == 0 {
					started <- struct{}{}
				}
				if errors.Is(err, onnxrt.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 8 {
		<-started
	}
	if err := m.Close(); err != nil {
		t.Error(err)
	}
	wg.Wait()
}

// TestBatchMatchesSingle checks on a CNN that the items of a batch do not
// influence each other: a batch of 32 gives what 32 single calls give.
func TestBatchMatchesSingle(t *testing.T) {
	m := load(t, "tiny-cnn.onnx", onnxrt.Options{})
	const n = 32
	var batch []float32
	for i := range n {
		x, _ := image(i)
		batch = append(batch, x...)
	}
	got, err := m.Predict(t.Context(), batch, n)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[float64]bool{}
	for i := range n {
		p, err := m.PredictOne(t.Context(), batch[i*64*64:(i+1)*64*64])
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(p-got[i]) > 1e-6 {
			t.Errorf("item %d: batch P = %v, single P = %v", i, got[i], p)
		}
		distinct[p] = true
	}
	if len(distinct) < n/2 {
		t.Errorf("only %d distinct outputs for %d different images", len(distinct), n)
	}
}
