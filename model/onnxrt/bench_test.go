package onnxrt_test

import (
	"context"
	"fmt"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/healthcare-ai/platform/model/onnxrt"
)

// BenchmarkPredict measures Predict on the 2-conv CNN and on the single-Gemm
// model (almost pure per-call overhead), with a background context (no
// cancellation support) and a cancellable one (RunOptions per call).
// ns/image is the figure to compare across batch sizes.
func BenchmarkPredict(b *testing.B) {
	for _, file := range []string{"tiny-cnn.onnx", "tiny-sigmoid.onnx"} {
		m := load(b, file, onnxrt.Options{})
		for _, n := range []int{1, 32} {
			batch := make([]float32, 0, n*m.ItemSize())
			for i := range n {
				x, _ := image(i)
				batch = append(batch, x...)
			}
			for _, cancellable := range []bool{false, true} {
				ctx := context.Background()
				name := fmt.Sprintf("%s/batch=%d/ctx=background", file, n)
				if cancellable {
					var cancel context.CancelFunc
					ctx, cancel = context.WithCancel(ctx)
					defer cancel()
					name = fmt.Sprintf("%s/batch=%d/ctx=cancellable", file, n)
				}
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						if _, err := m.Predict(ctx, batch, n); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/image")
				})
			}
		}
	}
}

// BenchmarkPredictParallel runs batch-1 Predict calls from GOMAXPROCS
// goroutines on one Model (one intra-op thread each).
func BenchmarkPredictParallel(b *testing.B) {
	m := load(b, "tiny-cnn.onnx", onnxrt.Options{})
	x, _ := image(1)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Predict(context.Background(), x, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/image")
}

// BenchmarkTensors measures what Predict spends per call on creating and
// destroying its input and output tensors (the cost a sync.Pool could save).
func BenchmarkTensors(b *testing.B) {
	initRuntime(b)
	for _, n := range []int{1, 32} {
		in := make([]float32, n*64*64)
		out := make([]float32, n)
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			for b.Loop() {
				ti, err := ort.NewTensor(ort.NewShape(int64(n), 1, 64, 64), in)
				if err != nil {
					b.Fatal(err)
				}
				to, err := ort.NewTensor(ort.NewShape(int64(n), 1), out)
				if err != nil {
					b.Fatal(err)
				}
				ti.Destroy()
				to.Destroy()
			}
		})
	}
}

// BenchmarkLoad measures Load (metadata, signature, session, warm-up).
func BenchmarkLoad(b *testing.B) {
	initRuntime(b)
	data := testdata(b, "tiny-cnn.onnx")
	for b.Loop() {
		m, err := onnxrt.Load(data, onnxrt.Options{})
		if err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
}
