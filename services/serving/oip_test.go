package serving_test

import (
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/model/onnxrt"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/predictor"
	"github.com/healthcare-ai/platform/services/serving"
)

func TestHealthAndModelMetadata(t *testing.T) {
	e := start(t, serving.Config{})
	for _, path := range []string{"/v2/health/live", "/v2/health/ready", "/v2/models/champion/ready",
		"/v2/models/pneumonia/ready", "/v2/models/" + championModel + "/versions/1/ready", "/v2"} {
		if resp, p := e.do(t, http.MethodGet, path, "", nil, nil); p != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %+v", path, resp.StatusCode, p)
		}
	}

	for _, tc := range []struct {
		path, name, model, arm string
		side                   int64
	}{
		{"/v2/models/" + championModel, championModel, championModel, proto.ArmChampion, 64},
		{"/v2/models/" + championModel + "/versions/1", championModel, championModel, proto.ArmChampion, 64},
		{"/v2/models/champion", "champion", championModel, proto.ArmChampion, 64},
		{"/v2/models/challenger", "challenger", challengerModel, proto.ArmChallenger, 128},
		{"/v2/models/" + challengerModel, challengerModel, challengerModel, proto.ArmChallenger, 128},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/v2/models/"), func(t *testing.T) {
			var md serving.ModelMetadata
			if _, p := e.do(t, http.MethodGet, tc.path, "", nil, &md); p != nil {
				t.Fatal(p)
			}
			wantIn := []onnxrt.TensorInfo{
				{Name: "image", Datatype: "FP32", Shape: []int64{-1, 1, tc.side, tc.side}},
				{Name: serving.InputImageBytes, Datatype: "BYTES", Shape: []int64{-1}},
			}
			wantOut := []onnxrt.TensorInfo{
				{Name: "prob", Datatype: "FP32", Shape: []int64{-1, 1}},
				{Name: serving.OutputLabel, Datatype: "BYTES", Shape: []int64{-1}},
			}
			if md.Name != tc.name || !slices.Equal(md.Versions, []string{"1"}) || md.Platform != "onnxruntime" {
				t.Errorf("name %q versions %q platform %q", md.Name, md.Versions, md.Platform)
			}
			if !tensorsEqual(md.Inputs, wantIn) || !tensorsEqual(md.Outputs, wantOut) {
				t.Errorf("inputs %+v outputs %+v, want %+v %+v", md.Inputs, md.Outputs, wantIn, wantOut)
			}
			_, meta, _ := e.pred.Serving(tc.arm)
			p := md.Parameters
			if p.ModelName != tc.model || p.ModelVersion != "1" || p.Arm != tc.arm || p.Threshold != meta.Threshold ||
				!slices.Equal(p.Labels, []string{"NORMAL", "PNEUMONIA"}) || p.PositiveLabel != "PNEUMONIA" ||
				p.Preprocess == nil || *p.Preprocess != meta.Preprocess || p.Release != meta.Version {
				t.Errorf("parameters %+v, model metadata %+v", p, meta)
			}
		})
	}

	// The experiment: the arms take different sizes, so only images are a
	// common input.
	var md serving.ModelMetadata
	if _, p := e.do(t, http.MethodGet, "/v2/models/pneumonia", "", nil, &md); p != nil {
		t.Fatal(p)
	}
	if md.Name != "pneumonia" || len(md.Inputs) != 1 || md.Inputs[0].Name != serving.InputImageBytes ||
		md.Parameters.Endpoint != "experiment" || md.Parameters.Experiment == nil || len(md.Parameters.Arms) != 2 ||
		md.Parameters.Arms[1].ModelName != challengerModel || !md.Parameters.Arms[1].Loaded {
		t.Errorf("experiment metadata %+v", md)
	}
}

func tensorsEqual(a, b []onnxrt.TensorInfo) bool {
	return slices.EqualFunc(a, b, func(x, y onnxrt.TensorInfo) bool {
		return x.Name == y.Name && x.Datatype == y.Datatype && slices.Equal(x.Shape, y.Shape)
	})
}

// TestInferEqualsPredictor: a tensor preprocessed with xray/preprocess, sent
// flat or nested, and the same image sent as BYTES give exactly the
// predictor's probability; the result is logged under the request id.
func TestInferEqualsPredictor(t *testing.T) {
	e := start(t, serving.Config{})
	img1, img2 := jpegOf(t, xray(300, 260, 3)), pngOf(t, xray(200, 240, 11))
	x1, x2 := e.tensorOf(t, proto.ArmChampion, img1), e.tensorOf(t, proto.ArmChampion, img2)
	p1, p2 := e.want(t, proto.ArmChampion, img1), e.want(t, proto.ArmChampion, img2)

	infer := func(t *testing.T, path string, in map[string]any) serving.InferResponse {
		t.Helper()
		var resp serving.InferResponse
		hr, p := e.post(t, path, map[string]any{"id": "client-7", "inputs": []any{in}}, &resp)
		if p != nil {
			t.Fatal(p)
		}
		if id := hr.Header.Get(serving.HeaderRequestID); id == "" || id != resp.Parameters.RequestID {
			t.Errorf("X-Request-Id %q, body request_id %q", id, resp.Parameters.RequestID)
		}
		if resp.ID != "client-7" || resp.ModelName != championModel || resp.ModelVersion != "1" || resp.Parameters.Arm != proto.ArmChampion {
			t.Errorf("response %+v", resp)
		}
		return resp
	}
	probs := func(resp serving.InferResponse) []float64 {
		out := resp.Outputs[0]
		if out.Name != "prob" || out.Datatype != "FP32" {
			t.Errorf("output %+v", out)
		}
		var ps []float64
		for _, v := range out.Data.([]any) {
			ps = append(ps, v.(float64))
		}
		if !slices.Equal(out.Shape, []int{len(ps), 1}) {
			t.Errorf("output shape %v for %d values", out.Shape, len(ps))
		}
		return ps
	}

	t.Run("flat", func(t *testing.T) {
		resp := infer(t, "/v2/models/"+championModel+"/infer",
			map[string]any{"name": "image", "datatype": "FP32", "shape": []int{1, 1, 64, 64}, "data": x1})
		if got := probs(resp); len(got) != 1 || got[0] != p1 {
			t.Errorf("probability %v, predictor %v", got, p1)
		}
		rs := e.resultsFor(t, 1, resp.Parameters.RequestID)
		r := rs[resp.Parameters.RequestID+"/champion"]
		if r == nil || r.Status != proto.StatusOK || r.Probability != p1 || r.ClientRequestID != "client-7" || r.Experiment != "" ||
			!r.Served || r.ModelName != championModel || r.ModelVersion != "1" || r.Image != (proto.ImageRef{}) ||
			r.Label != resp.Parameters.Labels[0] || r.Threshold != resp.Parameters.Threshold {
			t.Errorf("logged result %+v", r)
		}
	})
	t.Run("nested-alias-version", func(t *testing.T) {
		resp := infer(t, "/v2/models/champion/versions/1/infer",
			map[string]any{"name": "image", "datatype": "FP32", "shape": []int{1, 1, 64, 64}, "data": [][][]float32{nest(x1, 64)}})
		if got := probs(resp); got[0] != p1 {
			t.Errorf("probability %v, predictor %v", got, p1)
		}
	})
	t.Run("batch", func(t *testing.T) {
		resp := infer(t, "/v2/models/champion/infer",
			map[string]any{"name": "image", "datatype": "FP32", "shape": []int{2, 1, 64, 64}, "data": slices.Concat(x1, x2)})
		got := probs(resp)
		if len(got) != 2 || math.Abs(got[0]-p1) > 1e-6 || math.Abs(got[1]-p2) > 1e-6 {
			t.Errorf("probabilities %v, predictor %v %v", got, p1, p2)
		}
		ids := resp.Parameters.RequestIDs
		if len(ids) != 2 || ids[0] != resp.Parameters.RequestID+"-0" || ids[1] != resp.Parameters.RequestID+"-1" {
			t.Fatalf("request ids %q", ids)
		}
		rs := e.resultsFor(t, 1, ids...)
		if rs[ids[1]+"/champion"].Probability != got[1] {
			t.Errorf("logged %+v", rs[ids[1]+"/champion"])
		}
	})
	t.Run("image-bytes", func(t *testing.T) {
		var resp serving.InferResponse
		_, p := e.post(t, "/v2/models/champion/infer", map[string]any{
			"inputs":  []any{map[string]any{"name": "image_bytes", "datatype": "BYTES", "shape": []int{2}, "data": []string{b64(img1), "data:image/png;base64," + b64(img2)}}},
			"outputs": []any{map[string]any{"name": "prob"}, map[string]any{"name": "label"}},
		}, &resp)
		if p != nil {
			t.Fatal(p)
		}
		if got := probs(resp); math.Abs(got[0]-p1) > 1e-6 || math.Abs(got[1]-p2) > 1e-6 {
			t.Errorf("probabilities %v, predictor %v %v", got, p1, p2)
		}
		if len(resp.Outputs) != 2 || resp.Outputs[1].Name != "label" || resp.ID != resp.Parameters.RequestID {
			t.Errorf("outputs %+v id %q", resp.Outputs, resp.ID)
		}
		rs := e.resultsFor(t, 1, resp.Parameters.RequestIDs...)
		r := rs[resp.Parameters.RequestIDs[1]+"/champion"]
		if r.Image.Format != "png" || r.Image.Width != 200 || r.Image.Height != 240 || len(r.Image.SHA256) != 64 || r.Image.SizeBytes != int64(len(img2)) {
			t.Errorf("logged image %+v", r.Image)
		}
	})
}

// TestInferErrors: each kind of bad request gets its status, problem type
// and field, and nothing is logged.
func TestInferErrors(t *testing.T) {
	e := start(t, serving.Config{MaxBodyBytes: 256 << 10})
	x := e.tensorOf(t, proto.ArmChampion, jpegOf(t, xray(100, 100, 5)))
	tensor := func(name, datatype string, shape []int, data any) map[string]any {
		return map[string]any{"inputs": []any{map[string]any{"name": name, "datatype": datatype, "shape": shape, "data": data}}}
	}
	ok := tensor("image", "FP32", []int{1, 1, 64, 64}, x)
	notImage := b64([]byte("this is not an image at all"))
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		contentType string
		body        any
		status      int
		kind        problem.Kind
		field       string
	}{
		{"wrong input name", "", "champion", "", tensor("pixels", "FP32", []int{1, 1, 64, 64}, x), 400, serving.UnknownInput, "inputs[0].name"},
		{"wrong datatype", "", "champion", "", tensor("image", "FP64", []int{1, 1, 64, 64}, x), 400, serving.InvalidDatatype, "inputs[0].datatype"},
		{"wrong shape", "", "champion", "", tensor("image", "FP32", []int{4, 1, 32, 32}, x), 400, serving.InvalidTensorShape, "inputs[0].shape"},
		{"challenger size", "", "challenger", "", ok, 400, serving.InvalidTensorShape, "inputs[0].shape"},
		{"element count", "", "champion", "", tensor("image", "FP32", []int{1, 1, 64, 64}, x[:4095]), 400, serving.InvalidElementCount, "inputs[0].data"},
		{"ragged data", "", "champion", "", tensor("image", "FP32", []int{1, 1, 2, 2}, [][]float32{{1, 2}, {3}}), 400, serving.InvalidTensorData, "inputs[0].data"},
		{"strings as FP32", "", "champion", "", tensor("image", "FP32", []int{1}, []string{"a"}), 400, serving.InvalidTensorData, "inputs[0].data"},
		{"negative dim", "", "champion", "", tensor("image", "FP32", []int{-1, 1, 64, 64}, x), 400, serving.InvalidTensorShape, "inputs[0].shape"},
		{"no inputs", "", "champion", "", map[string]any{"inputs": []any{}}, 400, serving.InvalidRequest, "inputs"},
		{"two inputs", "", "champion", "", map[string]any{"inputs": []any{ok["inputs"].([]any)[0], ok["inputs"].([]any)[0]}}, 400, serving.InvalidRequest, "inputs"},
		{"unknown output", "", "champion", "", map[string]any{"inputs": ok["inputs"], "outputs": []any{map[string]any{"name": "logits"}}}, 400, serving.UnknownOutput, "outputs[0].name"},
		{"shape of wrong type", "", "champion", "", `{"inputs":[{"name":"image","datatype":"FP32","shape":["a"],"data":[1]}]}`, 400, serving.InvalidJSON, "inputs.shape"},
		{"malformed JSON", "", "champion", "", `{"inputs": [`, 400, serving.InvalidJSON, "body"},
		{"not base64", "", "champion", "", tensor("image_bytes", "BYTES", []int{1}, []string{"@@@"}), 400, serving.InvalidImageRef, "inputs[0].data[0]"},
		{"not an image", "", "champion", "", tensor("image_bytes", "BYTES", []int{1}, []string{notImage}), 422, serving.InvalidImage, "inputs[0].data[0]"},
		{"bytes as FP32", "", "champion", "", tensor("image_bytes", "FP32", []int{1}, []float32{1}), 400, serving.InvalidDatatype, "inputs[0].datatype"},
		{"unknown model", "", "no-such-model", "", ok, 404, serving.ModelNotFound, "name"},
		{"unknown version", "", "champion/versions/7", "", ok, 404, serving.ModelVersionNotFound, "version"},
		{"experiment version", "", "pneumonia/versions/1", "", ok, 404, serving.ModelVersionNotFound, "version"},
		{"wrong method", http.MethodGet, "champion", "", nil, 405, serving.MethodNotAllowed, "method"},
		{"media type", "", "champion", "text/plain", ok, 415, serving.UnsupportedMediaType, "Content-Type"},
		{"body too large", "", "champion", "", tensor("image", "FP32", []int{16, 1, 64, 64}, slices.Repeat(x, 16)), 413, serving.BodyTooLarge, "body"},
		{"unknown route", http.MethodGet, "../v3/x", "", nil, 404, serving.NotFoundRoute, "path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method, ct := tc.method, tc.contentType
			if method == "" {
				method = http.MethodPost
			}
			if ct == "" {
				ct = "application/json"
			}
			path := "/v2/models/" + tc.path + "/infer"
			if strings.HasPrefix(tc.path, "../") {
				path = "/v2/" + strings.TrimPrefix(tc.path, "../")
			}
			resp, p := e.do(t, method, path, ct, tc.body, nil)
			if p == nil {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if resp.StatusCode != tc.status || p.Type != tc.kind.Type() || p.Field != tc.field {
				t.Errorf("got %d %s field %q (%s), want %d %s field %q", resp.StatusCode, p.Type, p.Field, p.Detail, tc.status, tc.kind.Type(), tc.field)
			}
			if method == http.MethodPost && tc.kind != serving.NotFoundRoute && (p.RequestID == "" || resp.Header.Get(serving.HeaderRequestID) != p.RequestID) {
				t.Errorf("problem request_id %q, header %q", p.RequestID, resp.Header.Get(serving.HeaderRequestID))
			}
		})
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.results) != 0 {
		t.Errorf("%d results logged for refused requests: %+v", len(e.results), e.results[0])
	}
}

// TestNotLoaded: before the predictor has loaded its models, the endpoints
// answer 503 model-not-ready.
func TestNotLoaded(t *testing.T) {
	e := start(t, serving.Config{})
	blobs, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Never run: no model is ever loaded.
	idle, err := predictor.New(predictor.Config{}, predictor.Deps{JS: e.bus.JS, Models: predictor.RegistrySource{}, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := serving.New(serving.Config{}, serving.Deps{Models: idle, Experiment: e.router, JS: e.bus.JS})
	if err != nil {
		t.Fatal(err)
	}
	e.http.Config.Handler = srv.Handler()
	body := map[string]any{"inputs": []any{map[string]any{"name": "image", "datatype": "FP32", "shape": []int{1}, "data": []float32{0}}}}
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/v2/health/ready"},
		{http.MethodGet, "/v2/models/champion"},
		{http.MethodGet, "/v2/models/champion/ready"},
		{http.MethodGet, "/v2/models/pneumonia/ready"},
		{http.MethodGet, "/v2/models/" + championModel},
		{http.MethodPost, "/v2/models/champion/infer"},
		{http.MethodPost, "/v2/models/pneumonia/infer"},
		{http.MethodPost, "/invocations"},
	} {
		resp, p := e.do(t, tc.method, tc.path, "application/json", body, nil)
		if p == nil || resp.StatusCode != 503 || p.Type != serving.ModelNotReady.Type() || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: %d %+v", tc.method, tc.path, resp.StatusCode, p)
		}
	}
	if resp, p := e.do(t, http.MethodGet, "/v2/health/live", "", nil, nil); p != nil || resp.StatusCode != 200 {
		t.Errorf("live: %d %+v", resp.StatusCode, p)
	}
}

// TestUnloggedPredictionIsNotServed: when the result cannot be recorded
// (here: no INFERENCE stream), the prediction is withheld with 503.
func TestUnloggedPredictionIsNotServed(t *testing.T) {
	e := start(t, serving.Config{})
	other := bustest.Start(t)
	if err := other.JS.DeleteStream(t.Context(), proto.StreamInference); err != nil {
		t.Fatal(err)
	}
	srv, err := serving.New(serving.Config{PublishTimeout: time.Second}, serving.Deps{Models: e.pred, Experiment: e.router, JS: other.JS})
	if err != nil {
		t.Fatal(err)
	}
	e.http.Config.Handler = srv.Handler()
	x := e.tensorOf(t, proto.ArmChampion, jpegOf(t, xray(64, 64, 3)))
	resp, p := e.post(t, "/v2/models/champion/infer", map[string]any{"inputs": []any{map[string]any{
		"name": "image", "datatype": "FP32", "shape": []int{1, 1, 64, 64}, "data": x}}}, nil)
	if p == nil || resp.StatusCode != 503 || p.Type != serving.NotLogged.Type() || p.RequestID == "" {
		t.Errorf("got %d %+v, want 503 %s", resp.StatusCode, p, serving.NotLogged.Type())
	}
}
