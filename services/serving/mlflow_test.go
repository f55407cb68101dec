package serving_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/router"
	"github.com/healthcare-ai/platform/services/serving"
)

// TestMLflowInputForms: the four MLflow input forms, with tensors in every
// accepted shape (the seed's one 64x64 nested array first) and image
// references, give the predictor's probabilities.
func TestMLflowInputForms(t *testing.T) {
	root := t.TempDir()
	e := start(t, serving.Config{ImageRoot: root})
	img1, img2 := jpegOf(t, xray(320, 300, 7)), pngOf(t, xray(90, 100, 2))
	if err := os.MkdirAll(filepath.Join(root, "study"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "study", "a.jpeg"), img1, 0o644); err != nil {
		t.Fatal(err)
	}
	x1, x2 := e.tensorOf(t, proto.ArmChampion, img1), e.tensorOf(t, proto.ArmChampion, img2)
	p1, p2 := e.want(t, proto.ArmChampion, img1), e.want(t, proto.ArmChampion, img2)
	hw1, hw2 := nest(x1, 64), nest(x2, 64)

	for _, tc := range []struct {
		name string
		body any
		want []float64
	}{
		{"seed 64x64 inputs", map[string]any{"inputs": hw1}, []float64{p1}},
		{"inputs 1x64x64", map[string]any{"inputs": [][][]float32{hw1}}, []float64{p1}},
		{"inputs Nx64x64", map[string]any{"inputs": [][][]float32{hw1, hw2}}, []float64{p1, p2}},
		{"inputs Nx1x64x64", map[string]any{"inputs": [][][][]float32{{hw1}, {hw2}}}, []float64{p1, p2}},
		{"inputs named tensor", map[string]any{"inputs": map[string]any{"image": hw2}}, []float64{p2}},
		{"inputs named images", map[string]any{"inputs": map[string]any{"image_base64": []string{b64(img1), b64(img2)}}}, []float64{p1, p2}},
		{"instances", map[string]any{"instances": []any{hw1, map[string]any{"image_base64": b64(img2)}, [][][]float32{hw2}}}, []float64{p1, p2, p2}},
		{"dataframe_split", map[string]any{"dataframe_split": map[string]any{
			"columns": []string{"image", "image_base64"},
			"data":    [][]any{{hw1, nil}, {nil, b64(img2)}},
		}}, []float64{p1, p2}},
		{"dataframe_records", map[string]any{"dataframe_records": []any{
			map[string]any{"image_path": "study/a.jpeg"},
			map[string]any{"image_path": filepath.Join(root, "study", "a.jpeg")},
			map[string]any{"image_uri": "file://" + filepath.Join(root, "study", "a.jpeg")},
			map[string]any{"image_uri": "data:image/png;base64," + b64(img2)},
			map[string]any{"image_base64": b64(img2)},
			map[string]any{"image": hw1},
		}}, []float64{p1, p1, p1, p2, p2, p1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp serving.InvocationsResponse
			hr, p := e.post(t, "/endpoints/champion/invocations", tc.body, &resp)
			if p != nil {
				t.Fatal(p)
			}
			if resp.RequestID == "" || hr.Header.Get(serving.HeaderRequestID) != resp.RequestID {
				t.Errorf("request_id %q, header %q", resp.RequestID, hr.Header.Get(serving.HeaderRequestID))
			}
			if len(resp.Predictions) != len(tc.want) {
				t.Fatalf("%d predictions, want %d", len(resp.Predictions), len(tc.want))
			}
			for i, pr := range resp.Predictions {
				// Batched inference may differ from one-image inference in
				// the last bits; one image is exact.
				tol := 1e-6
				if len(tc.want) == 1 {
					tol = 0
				}
				if math.Abs(pr.Probability-tc.want[i]) > tol || pr.ModelName != championModel || pr.ModelVersion != "1" ||
					pr.Arm != proto.ArmChampion || pr.Label == "" || pr.Threshold == 0 {
					t.Errorf("prediction %d: %+v, want probability %v", i, pr, tc.want[i])
				}
			}
			ids := make([]string, len(resp.Predictions))
			for i, pr := range resp.Predictions {
				ids[i] = pr.RequestID
			}
			rs := e.resultsFor(t, 1, ids...)
			for i, id := range ids {
				if r := rs[id+"/champion"]; r.Probability != resp.Predictions[i].Probability || r.Experiment != "" {
					t.Errorf("logged %+v for prediction %+v", r, resp.Predictions[i])
				}
			}
		})
	}

	// The seed's form to the challenger (128x128) is refused with the sizes
	// it takes.
	_, p := e.post(t, "/endpoints/challenger/invocations", map[string]any{"inputs": hw1}, nil)
	if p == nil || p.Type != serving.InvalidTensorShape.Type() || p.Field != "inputs" {
		t.Errorf("64x64 to the challenger: %+v", p)
	}
}

func TestMLflowErrors(t *testing.T) {
	root := t.TempDir()
	e := start(t, serving.Config{ImageRoot: filepath.Join(root, "images")})
	if err := os.MkdirAll(filepath.Join(root, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(root, "secret.jpeg")
	if err := os.WriteFile(secret, jpegOf(t, xray(64, 64, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(root, "images", "link.jpeg")); err != nil {
		t.Fatal(err)
	}
	rec := func(k string, v any) map[string]any {
		return map[string]any{"dataframe_records": []any{map[string]any{k: v}}}
	}
	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
		kind   problem.Kind
		field  string
	}{
		{"path outside root", "champion", rec("image_path", "../secret.jpeg"), 403, serving.ImagePathForbidden, "dataframe_records[0].image_path"},
		{"absolute path outside root", "champion", rec("image_path", secret), 403, serving.ImagePathForbidden, "dataframe_records[0].image_path"},
		{"symlink out of root", "champion", rec("image_path", "link.jpeg"), 403, serving.ImagePathForbidden, "dataframe_records[0].image_path"},
		{"missing file", "champion", rec("image_path", "nope.jpeg"), 422, serving.ImageNotFound, "dataframe_records[0].image_path"},
		{"http uri", "champion", rec("image_uri", "http://example.com/a.jpeg"), 400, serving.UnsupportedImageURI, "dataframe_records[0].image_uri"},
		{"unknown column", "champion", rec("pixels", []int{1}), 400, serving.UnknownInput, "dataframe_records[0].pixels"},
		{"two columns", "champion", map[string]any{"dataframe_records": []any{map[string]any{"image_base64": "x", "image_path": "y"}}}, 400, serving.InvalidRequest, "dataframe_records[0]"},
		{"split row length", "champion", map[string]any{"dataframe_split": map[string]any{"columns": []string{"image_path"}, "data": [][]any{{"a", "b"}}}}, 400, serving.InvalidRequest, "dataframe_split.data[0]"},
		{"two forms", "champion", map[string]any{"inputs": []int{1}, "instances": []int{1}}, 400, serving.InvalidRequest, "instances"},
		{"no form", "champion", map[string]any{"data": []int{1}}, 400, serving.InvalidRequest, "data"},
		{"bad tensor shape", "champion", map[string]any{"inputs": [][]float32{{1, 2}, {3, 4}}}, 400, serving.InvalidTensorShape, "inputs"},
		{"not numbers", "champion", map[string]any{"inputs": [][]any{{1, true}}}, 400, serving.InvalidTensorData, "inputs"},
		{"unknown endpoint", "nope", map[string]any{"inputs": []int{1}}, 404, serving.ModelNotFound, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, p := e.post(t, "/endpoints/"+tc.path+"/invocations", tc.body, nil)
			if p == nil {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if resp.StatusCode != tc.status || p.Type != tc.kind.Type() || p.Field != tc.field || p.RequestID == "" {
				t.Errorf("got %d %s field %q (%s), want %d %s field %q", resp.StatusCode, p.Type, p.Field, p.Detail, tc.status, tc.kind.Type(), tc.field)
			}
		})
	}

	// Without an image root no path is read.
	noRoot := start(t, serving.Config{})
	_, p := noRoot.post(t, "/invocations", rec("image_path", secret), nil)
	if p == nil || p.Status != 403 || p.Type != serving.ImagePathForbidden.Type() {
		t.Errorf("image_path without a root: %+v", p)
	}
}

// TestExperimentEndpoint: the experiment endpoint applies the live split as
// the router does, in both protocols, and logs each prediction with the
// experiment, split and epoch.
func TestExperimentEndpoint(t *testing.T) {
	e := start(t, serving.Config{})
	img := jpegOf(t, xray(256, 256, 9))
	body := map[string]any{"inputs": []any{map[string]any{"name": "image_bytes", "datatype": "BYTES", "shape": []int{1}, "data": []string{b64(img)}}}}
	mlflow := map[string]any{"dataframe_records": []any{map[string]any{"image_base64": b64(img)}}}

	for _, champion := range []int{100, 0, 50} {
		exp := e.setSplit(t, champion)
		arms := map[string]int{}
		var ids []string
		for i := range 20 {
			var arm, id string
			if i%2 == 0 {
				var resp serving.InferResponse
				if _, p := e.post(t, "/v2/models/pneumonia/infer", body, &resp); p != nil {
					t.Fatal(p)
				}
				arm, id = resp.Parameters.Arm, resp.Parameters.RequestID
				if resp.Parameters.Experiment != "pneumonia" || resp.Parameters.Epoch != exp.Epoch {
					t.Errorf("parameters %+v", resp.Parameters)
				}
			} else {
				var resp serving.InvocationsResponse
				if _, p := e.post(t, "/invocations", mlflow, &resp); p != nil {
					t.Fatal(p)
				}
				arm, id = resp.Predictions[0].Arm, resp.RequestID
			}
			if want := router.Arm("pneumonia", exp.Split, id, ""); arm != want {
				t.Errorf("split %s: request %s served by %s, the router assigns %s", exp.Split, id, arm, want)
			}
			arms[arm]++
			ids = append(ids, id)
		}
		switch champion {
		case 100:
			if arms[proto.ArmChampion] != 20 {
				t.Errorf("split 100/0: arms %v", arms)
			}
		case 0:
			if arms[proto.ArmChallenger] != 20 {
				t.Errorf("split 0/100: arms %v", arms)
			}
		}
		rs := e.resultsFor(t, 1, ids...)
		for k, r := range rs {
			if r.Experiment != "pneumonia" || r.ConfiguredSplit != exp.Split || r.Epoch != exp.Epoch || !r.Served ||
				r.Status != proto.StatusOK || r.Image.SHA256 == "" {
				t.Errorf("%s: logged %+v, want experiment pneumonia split %s epoch %d", k, r, exp.Split, exp.Epoch)
			}
		}
	}

	// Shadow mode: the champion answers, both arms are logged.
	if _, err := router.SetMode(t.Context(), e.expKV, "pneumonia", proto.ModeShadow, "test", "shadow"); err != nil {
		t.Fatal(err)
	}
	var exp proto.Experiment
	bustest.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if exp, _ = e.router.Experiment(); exp.Mode != proto.ModeShadow {
			return fmt.Errorf("router applies mode %s", exp.Mode)
		}
		return nil
	})
	var resp serving.InvocationsResponse
	if _, p := e.post(t, "/invocations", mlflow, &resp); p != nil {
		t.Fatal(p)
	}
	if resp.Predictions[0].Arm != proto.ArmChampion {
		t.Errorf("shadow mode served by %s", resp.Predictions[0].Arm)
	}
	rs := e.resultsFor(t, 2, resp.RequestID)
	ch, sh := rs[resp.RequestID+"/champion"], rs[resp.RequestID+"/challenger"]
	if !ch.Served || sh.Served || sh.ModelName != challengerModel || sh.Status != proto.StatusOK || sh.Epoch != exp.Epoch {
		t.Errorf("shadow results: champion %+v challenger %+v", ch, sh)
	}
	if want := e.want(t, proto.ArmChallenger, img); sh.Probability != want {
		t.Errorf("shadow probability %v, predictor %v", sh.Probability, want)
	}
	if !slices.Contains([]string{proto.LabelNormal, proto.LabelPneumonia}, sh.Label) {
		t.Errorf("shadow label %q", sh.Label)
	}
}
