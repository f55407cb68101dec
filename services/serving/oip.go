package serving

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/model"
	"github.com/healthcare-ai/platform/model/onnxrt"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/predictor"
)

// Platform is the Open Inference Protocol platform of every model.
const Platform = "onnxruntime"

// ServerMetadata is the body of GET /v2.
type ServerMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

// ModelMetadata is the body of GET /v2/models/{name}.
type ModelMetadata struct {
	Name     string   `json:"name"`
	Versions []string `json:"versions"`
	Platform string   `json:"platform"`
	// Inputs: the model's tensor input, [-1 C H W] (-1: the batch),
	// preprocessed as Parameters.Preprocess says, and InputImageBytes, a BYTES
	// [-1] input of encoded images that the server preprocesses.
	Inputs []onnxrt.TensorInfo `json:"inputs"`
	// Outputs: the model's output as P(positive label), FP32 [-1 1], and
	// OutputLabel, BYTES [-1], the label at the model's threshold.
	Outputs    []onnxrt.TensorInfo `json:"outputs"`
	Parameters MetadataParameters  `json:"parameters"`
}

// MetadataParameters are the platform's additions to the model metadata,
// from the model's hap.metadata.
type MetadataParameters struct {
	// Endpoint kind: "alias", "model" or "experiment".
	Endpoint string `json:"endpoint"`
	// Arm serving a model or alias endpoint.
	Arm           string                `json:"arm,omitempty"`
	ModelName     string                `json:"served_model_name,omitempty"`
	ModelVersion  string                `json:"model_version,omitempty"`
	SHA256        string                `json:"sha256,omitempty"`
	Release       string                `json:"release,omitempty"` // hap.metadata version, e.g. "1.0.0"
	Architecture  string                `json:"architecture,omitempty"`
	Labels        []string              `json:"labels,omitempty"`
	PositiveLabel string                `json:"positive_label,omitempty"`
	Threshold     float64               `json:"threshold,omitempty"`
	ThresholdRule string                `json:"threshold_rule,omitempty"`
	OutputKind    model.Output          `json:"output_kind,omitempty"`
	Preprocess    *model.PreprocessSpec `json:"preprocess,omitempty"`
	// For the experiment endpoint: the live configuration and each arm.
	Experiment *proto.Experiment `json:"experiment,omitempty"`
	Arms       []ArmMetadata     `json:"arms,omitempty"`
}

// ArmMetadata describes one arm behind the experiment endpoint.
type ArmMetadata struct {
	Arm          string            `json:"arm"`
	Loaded       bool              `json:"loaded"`
	ModelName    string            `json:"served_model_name,omitempty"`
	ModelVersion string            `json:"model_version,omitempty"`
	Input        onnxrt.TensorInfo `json:"input"`
	Threshold    float64           `json:"threshold,omitempty"`
}

// InferRequest is the body of POST /v2/models/{name}/infer.
type InferRequest struct {
	ID         string          `json:"id,omitempty"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
	Inputs     []InferInput    `json:"inputs"`
	Outputs    []InferOutput   `json:"outputs,omitempty"`
}

// InferInput is one input tensor. Data is flat or nested, row-major.
type InferInput struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data"`
}

// InferOutput names a requested output.
type InferOutput struct {
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

// InferResponse is the body of a successful inference.
type InferResponse struct {
	// ModelName and ModelVersion are the registry name and version of the
	// model that answered (whatever name the request addressed).
	ModelName    string `json:"model_name"`
	ModelVersion string `json:"model_version"`
	// ID echoes the request's id, or is the request id when it had none.
	ID         string          `json:"id"`
	Parameters InferParameters `json:"parameters"`
	Outputs    []OutputTensor  `json:"outputs"`
}

// InferParameters carries the platform's additions to a response.
type InferParameters struct {
	// RequestID is the id the server gave the request (also in the
	// X-Request-Id header); RequestIDs the id of each image, under which
	// its prediction is logged and feedback is given: the request id itself
	// for one image, "<request_id>-<i>" for each of several.
	RequestID  string   `json:"request_id"`
	RequestIDs []string `json:"request_ids"`
	// Labels is the predicted label of each image.
	Labels        []string `json:"labels"`
	Threshold     float64  `json:"threshold"`
	PositiveLabel string   `json:"positive_label"`
	Arm           string   `json:"arm"`
	// Experiment and Epoch are set when the experiment endpoint routed it.
	Experiment string  `json:"experiment,omitempty"`
	Epoch      int     `json:"epoch,omitempty"`
	Endpoint   string  `json:"endpoint"`
	LatencyMS  float64 `json:"latency_ms"`
}

// OutputTensor is one output tensor.
type OutputTensor struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
	Data     any    `json:"data"`
}

func (s *Server) serveServerMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, ServerMetadata{Name: "healthcare-ai-platform", Version: "1", Extensions: []string{}})
}

func (s *Server) serveLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"live": true})
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	var missing []string
	for _, arm := range s.deps.Models.Arms() {
		if err := s.deps.Models.WithModel(arm, func(predictor.Loaded) error { return nil }); err != nil {
			missing = append(missing, arm)
		}
	}
	if s.deps.Experiment != nil {
		if _, ok := s.deps.Experiment.Experiment(); !ok {
			missing = append(missing, "experiment "+s.cfg.Experiment)
		}
	}
	if len(missing) > 0 {
		s.fail(w, r, "", ModelNotReady.New("", "not ready: %s not loaded yet", strings.Join(missing, ", ")))
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

func (s *Server) serveModelReady(w http.ResponseWriter, r *http.Request) {
	md, err := s.metadata(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	if md.Parameters.Endpoint == kindExperiment {
		for _, a := range md.Parameters.Arms {
			if !a.Loaded {
				s.fail(w, r, "", ModelNotReady.New("name", "experiment %q: arm %s has no model loaded yet", md.Name, a.Arm))
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": md.Name, "ready": true})
}

func (s *Server) serveModelMetadata(w http.ResponseWriter, r *http.Request) {
	md, err := s.metadata(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	writeJSON(w, http.StatusOK, md)
}

// metadata describes an endpoint; version, when not empty, must be the
// version served.
func (s *Server) metadata(name, version string) (ModelMetadata, error) {
	t, err := s.resolve(name)
	if err != nil {
		return ModelMetadata{}, err
	}
	if t.kind == kindExperiment {
		if version != "" {
			return ModelMetadata{}, ModelVersionNotFound.New("version", "experiment endpoint %q has no versions", name)
		}
		return s.experimentMetadata(name)
	}
	var md ModelMetadata
	err = s.deps.Models.WithModel(t.arm, func(l predictor.Loaded) error {
		if version != "" && version != l.Ref.Version {
			return ModelVersionNotFound.New("version", "%s %q serves %s version %s, not version %s", t.kind, name, l.Ref.Name, l.Ref.Version, version)
		}
		md = modelMetadata(name, t, l)
		return nil
	})
	if errors.Is(err, predictor.ErrNotLoaded) {
		return ModelMetadata{}, ModelNotReady.New("name", "%s %q: arm %s has no model loaded yet; retry", t.kind, name, t.arm)
	}
	return md, err
}

func tensorInput(l predictor.Loaded) onnxrt.TensorInfo {
	md := l.Model.Metadata()
	in := onnxrt.TensorInfo{Name: md.InputName, Datatype: "FP32"}
	if sig := l.Model.Signature(); len(sig.Inputs) > 0 {
		in.Name, in.Datatype = sig.Inputs[0].Name, sig.Inputs[0].Datatype
	}
	p := md.Preprocess
	in.Shape = []int64{-1, int64(p.Channels), int64(p.Height), int64(p.Width)}
	return in
}

func modelMetadata(name string, t target, l predictor.Loaded) ModelMetadata {
	md := l.Model.Metadata()
	pp := md.Preprocess
	return ModelMetadata{
		Name:     name,
		Versions: []string{l.Ref.Version},
		Platform: Platform,
		Inputs: []onnxrt.TensorInfo{
			tensorInput(l),
			{Name: InputImageBytes, Datatype: "BYTES", Shape: []int64{-1}},
		},
		Outputs: []onnxrt.TensorInfo{
			{Name: md.OutputName, Datatype: "FP32", Shape: []int64{-1, 1}},
			{Name: OutputLabel, Datatype: "BYTES", Shape: []int64{-1}},
		},
		Parameters: MetadataParameters{
			Endpoint: t.kind, Arm: l.Arm, ModelName: l.Ref.Name, ModelVersion: l.Ref.Version, SHA256: l.Ref.SHA256,
			Release: md.Version, Architecture: md.Architecture, Labels: md.Labels, PositiveLabel: md.PositiveLabel,
			Threshold: md.Threshold, ThresholdRule: md.ThresholdRule, OutputKind: md.Output, Preprocess: &pp,
		},
	}
}

// experimentMetadata describes the experiment endpoint: the image input
// always, the tensor input and output when every arm's model agrees on them.
func (s *Server) experimentMetadata(name string) (ModelMetadata, error) {
	md := ModelMetadata{Name: name, Versions: []string{}, Platform: Platform,
		Parameters: MetadataParameters{Endpoint: kindExperiment}}
	if exp, ok := s.deps.Experiment.Experiment(); ok {
		md.Parameters.Experiment = &exp
	}
	var ins []onnxrt.TensorInfo
	var outs []string
	for _, arm := range s.deps.Models.Arms() {
		a := ArmMetadata{Arm: arm}
		_ = s.deps.Models.WithModel(arm, func(l predictor.Loaded) error {
			m := l.Model.Metadata()
			a.Loaded, a.ModelName, a.ModelVersion, a.Input, a.Threshold = true, l.Ref.Name, l.Ref.Version, tensorInput(l), m.Threshold
			ins = append(ins, a.Input)
			outs = append(outs, m.OutputName)
			return nil
		})
		md.Parameters.Arms = append(md.Parameters.Arms, a)
	}
	same := len(ins) > 0 && len(ins) == len(md.Parameters.Arms)
	for i := range ins {
		same = same && ins[i].Name == ins[0].Name && slices.Equal(ins[i].Shape, ins[0].Shape) && outs[i] == outs[0]
	}
	if same {
		md.Inputs = append(md.Inputs, ins[0])
	}
	md.Inputs = append(md.Inputs, onnxrt.TensorInfo{Name: InputImageBytes, Datatype: "BYTES", Shape: []int64{-1}})
	if same {
		md.Outputs = append(md.Outputs, onnxrt.TensorInfo{Name: outs[0], Datatype: "FP32", Shape: []int64{-1, 1}})
	}
	md.Outputs = append(md.Outputs, onnxrt.TensorInfo{Name: OutputLabel, Datatype: "BYTES", Shape: []int64{-1}})
	return md, nil
}

// names returns the tensor input and output names of the models behind a
// target (both arms for the experiment), for validating a request before it
// is routed. It fails with ModelNotReady when no model behind t is loaded.
func (s *Server) names(t target) (inputs, outputs []string, err error) {
	arms := []string{t.arm}
	if t.kind == kindExperiment {
		arms = s.deps.Models.Arms()
	}
	for _, arm := range arms {
		_ = s.deps.Models.WithModel(arm, func(l predictor.Loaded) error {
			m := l.Model.Metadata()
			if !slices.Contains(inputs, m.InputName) {
				inputs = append(inputs, m.InputName)
			}
			if !slices.Contains(outputs, m.OutputName) {
				outputs = append(outputs, m.OutputName)
			}
			return nil
		})
	}
	if len(inputs) == 0 {
		return nil, nil, ModelNotReady.New("name", "%s %q: no model loaded yet; retry", t.kind, t.name)
	}
	return inputs, outputs, nil
}

func (s *Server) serveInfer(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	w.Header().Set(HeaderRequestID, requestID)
	if r.Header.Get("Inference-Header-Content-Length") != "" {
		s.fail(w, r, requestID, UnsupportedMediaType.New("Inference-Header-Content-Length",
			"the binary tensor data extension is not supported: send the tensors as JSON"))
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, requestID, err)
		return
	}
	var req InferRequest
	if err := decodeJSON(body, &req); err != nil {
		s.fail(w, r, requestID, err)
		return
	}
	t, err := s.resolve(r.PathValue("name"))
	if err != nil {
		s.fail(w, r, requestID, err)
		return
	}
	inputNames, outputNames, err := s.names(t)
	if err != nil {
		s.fail(w, r, requestID, err)
		return
	}
	parts, err := oipParts(&req, inputNames, s.cfg.MaxImageBytes)
	if err != nil {
		s.fail(w, r, requestID, err)
		return
	}
	wantLabel := false
	for i, o := range req.Outputs {
		switch {
		case o.Name == OutputLabel:
			wantLabel = true
		case slices.Contains(outputNames, o.Name):
		default:
			s.fail(w, r, requestID, UnknownOutput.New(fmt.Sprintf("outputs[%d].name", i), "output %q: the model's outputs are %q",
				o.Name, append(slices.Clone(outputNames), OutputLabel)))
			return
		}
	}
	clientID := req.ID
	if clientID == "" {
		clientID = r.Header.Get(HeaderClientRequestID)
	}
	c := &call{requestID: requestID, clientID: truncate(clientID, maxClientIDLen), target: t, version: r.PathValue("version"), parts: parts}
	out, err := s.infer(r.Context(), c)
	if err != nil {
		s.fail(w, r, requestID, err)
		return
	}
	res := out.res
	labels := make([]string, len(res.probs))
	for i, p := range res.probs {
		labels[i] = res.meta.Label(p)
	}
	n := len(res.probs)
	resp := InferResponse{
		ModelName: res.ref.Name, ModelVersion: res.ref.Version, ID: req.ID,
		Parameters: InferParameters{
			RequestID: requestID, RequestIDs: out.ids, Labels: labels, Threshold: res.meta.Threshold,
			PositiveLabel: res.meta.PositiveLabel, Arm: res.arm, Experiment: out.experiment.Name, Epoch: out.experiment.Epoch,
			Endpoint: t.kind, LatencyMS: float64(res.latency.Microseconds()) / 1000,
		},
		Outputs: []OutputTensor{{Name: res.meta.OutputName, Datatype: "FP32", Shape: []int{n, 1}, Data: res.probs}},
	}
	if resp.ID == "" {
		resp.ID = requestID
	}
	if len(req.Outputs) > 0 && !slices.ContainsFunc(req.Outputs, func(o InferOutput) bool { return o.Name != OutputLabel }) {
		resp.Outputs = resp.Outputs[:0] // only the label was asked for
	}
	if wantLabel {
		resp.Outputs = append(resp.Outputs, OutputTensor{Name: OutputLabel, Datatype: "BYTES", Shape: []int{n}, Data: labels})
	}
	s.log.Debug("inference served", attrRequestID, requestID, attrEndpoint, t.name, attrArm, res.arm, attrModel, res.ref.Name, attrVersion, res.ref.Version)
	writeJSON(w, http.StatusOK, resp)
}

// oipParts validates the inputs of an Open Inference Protocol request that
// do not depend on the model the request is routed to (names, datatypes,
// element counts) and returns them as parts. The tensor's shape is checked
// against the model once it is known.
func oipParts(req *InferRequest, inputNames []string, maxImage int64) ([]part, error) {
	switch len(req.Inputs) {
	case 0:
		return nil, InvalidRequest.New("inputs", "inputs: required, one tensor (%q or %q)", inputNames, InputImageBytes)
	case 1:
	default:
		return nil, InvalidRequest.New("inputs", "inputs: %d tensors, the model takes one (%q FP32 or %q BYTES)", len(req.Inputs), inputNames, InputImageBytes)
	}
	in := req.Inputs[0]
	const f = "inputs[0]"
	isImage := in.Name == InputImageBytes
	if !isImage && !slices.Contains(inputNames, in.Name) {
		return nil, UnknownInput.New(f+".name", "input %q: the model's inputs are %q (FP32, preprocessed) and %q (BYTES, encoded images)",
			in.Name, inputNames, InputImageBytes)
	}
	want := "FP32"
	if isImage {
		want = "BYTES"
	}
	if in.Datatype != want {
		return nil, InvalidDatatype.New(f+".datatype", "input %q datatype %q: must be %s", in.Name, in.Datatype, want)
	}
	if len(in.Shape) == 0 {
		return nil, InvalidTensorShape.New(f+".shape", "input %q: shape required", in.Name)
	}
	shape := make([]int, len(in.Shape))
	count := int64(1)
	for i, d := range in.Shape {
		if d < 1 || d > 1<<30 {
			return nil, InvalidTensorShape.New(f+".shape", "input %q shape %v: dimension %d is %d, must be between 1 and %d", in.Name, in.Shape, i, d, 1<<30)
		}
		shape[i] = int(d)
		if count *= d; count > 1<<31 {
			return nil, InvalidTensorShape.New(f+".shape", "input %q shape %v: too many elements", in.Name, in.Shape)
		}
	}
	if len(in.Data) == 0 {
		return nil, InvalidTensorData.New(f+".data", "input %q: data required", in.Name)
	}
	t, err := DecodeTensor(in.Data)
	if err != nil {
		return nil, InvalidTensorData.New(f+".data", "input %q data: %v", in.Name, err)
	}
	if isImage {
		if t.Floats != nil {
			return nil, InvalidTensorData.New(f+".data", "input %q data: want base64 strings of JPEG or PNG files, found numbers", in.Name)
		}
		if !(len(shape) == 1 || len(shape) == 2 && shape[1] == 1) {
			return nil, InvalidTensorShape.New(f+".shape", "input %q shape %v: must be [N] or [N 1]", in.Name, in.Shape)
		}
	} else if t.Strings != nil {
		return nil, InvalidTensorData.New(f+".data", "input %q data: want numbers (FP32), found strings; send encoded images as %q", in.Name, InputImageBytes)
	}
	if int64(t.Len()) != count {
		return nil, InvalidElementCount.New(f+".data", "input %q: shape %v holds %d elements, data has %d", in.Name, in.Shape, count, t.Len())
	}
	if !isImage {
		return []part{{field: f + ".shape", values: t.Floats, shape: shape, oip: true}}, nil
	}
	parts := make([]part, len(t.Strings))
	for i, str := range t.Strings {
		field := fmt.Sprintf("%s.data[%d]", f, i)
		data, uri, err := decodeInlineImage(field, str, maxImage)
		if err != nil {
			return nil, err
		}
		parts[i] = imagePart(field, data, uri)
	}
	return parts, nil
}

// readBody checks the content type and reads the body within the limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, UnsupportedMediaType.New("Content-Type", "Content-Type %q: must be application/json", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, BodyTooLarge.New("body", "body: larger than the limit of %d bytes", tooBig.Limit)
		}
		return nil, InvalidRequest.New("body", "read body: %v", err)
	}
	return body, nil
}

// decodeJSON decodes a JSON object, naming the field of a type error.
func decodeJSON(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return InvalidJSON.New("body", "body: not valid JSON at byte %d: %v", syn.Offset, err)
		case errors.As(err, &typ):
			return InvalidJSON.New(typ.Field, "field %s: JSON %s where %s was expected", typ.Field, typ.Value, typ.Type)
		}
		return InvalidJSON.New("body", "body: %v", err)
	}
	return nil
}

// fail writes err as a problem, with the request id when there is one.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, requestID string, err error) {
	p := *problem.From(err)
	p.RequestID = requestID
	level := slog.LevelInfo
	if p.Status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request refused", attrRequestID, requestID, "path", r.URL.Path,
		"status", p.Status, "type", p.Slug(), "field", p.Field, "detail", p.Detail)
	problem.Write(w, &p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		problem.Write(w, problem.Internal.New("", "encode response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
