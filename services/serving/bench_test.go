package serving_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/serving"
	"github.com/healthcare-ai/platform/xray/synth"
)

// BenchmarkInfer measures one inference call end to end over loopback HTTP:
// JSON decoding, validation, preprocessing (for images), ONNX Runtime on the
// champion (pneumonia-simplecnn, 1x64x64), publishing the InferenceResult
// with JetStream acknowledgement (embedded server, no fsync) and the JSON
// answer.
func BenchmarkInfer(b *testing.B) {
	e := start(b, serving.Config{})
	film, _, err := synth.Render(synth.DefaultOptions(), synth.Test, synth.Pneumonia, 0)
	if err != nil {
		b.Fatal(err)
	}
	img := jpegOf(b, film) // a synthetic chest film, JPEG q90
	b.Logf("JPEG %dx%d, %d bytes", film.Bounds().Dx(), film.Bounds().Dy(), len(img))
	x := e.tensorOf(b, proto.ArmChampion, img)
	oipTensor, _ := json.Marshal(map[string]any{"inputs": []any{map[string]any{
		"name": "image", "datatype": "FP32", "shape": []int{1, 1, 64, 64}, "data": x}}})
	oipJPEG, _ := json.Marshal(map[string]any{"inputs": []any{map[string]any{
		"name": "image_bytes", "datatype": "BYTES", "shape": []int{1}, "data": []string{b64(img)}}}})
	seed, _ := json.Marshal(map[string]any{"inputs": nest(x, 64)})
	// The baseline: the predictor's own Predict on the same JPEG (decode +
	// inference, in process, nothing published).
	b.Run("baseline-predictor-Predict-jpeg", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.pred.Predict(b.Context(), proto.ArmChampion, img); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct {
		name, path string
		body       []byte
	}{
		{"oip-tensor-64x64", "/v2/models/champion/infer", oipTensor},
		{"oip-jpeg-chest-film", "/v2/models/champion/infer", oipJPEG},
		{"mlflow-seed-64x64", "/endpoints/champion/invocations", seed},
		{"mlflow-seed-64x64-experiment", "/invocations", seed},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.path == "/invocations" {
				e.setSplit(b, 100)
			}
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				resp, err := e.http.Client().Post(e.http.URL+bc.path, "application/json", bytes.NewReader(bc.body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkDecodeTensor measures decoding one 64x64 tensor from JSON.
func BenchmarkDecodeTensor(b *testing.B) {
	x := make([]float32, 64*64)
	for i := range x {
		x[i] = float32(i%255)/127.5 - 1.003
	}
	data, _ := json.Marshal(nest(x, 64))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := serving.DecodeTensor(data); err != nil {
			b.Fatal(err)
		}
	}
}
