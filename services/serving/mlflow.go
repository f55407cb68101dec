package serving

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// Columns (dataframe forms) and keys (inputs, instances) that reference an
// image instead of carrying a tensor.
const (
	ColumnImagePath   = "image_path"   // a file under Config.ImageRoot
	ColumnImageURI    = "image_uri"    // data:image/...;base64,... or file:///path
	ColumnImageBase64 = "image_base64" // base64 JPEG or PNG
)

// Prediction is one item of an MLflow scoring response.
type Prediction struct {
	Probability  float64 `json:"probability"` // P(positive label)
	Label        string  `json:"label"`
	Threshold    float64 `json:"threshold"`
	ModelName    string  `json:"model_name"`
	ModelVersion string  `json:"model_version"`
	Arm          string  `json:"arm"`
	// RequestID is the id this item's prediction is logged under (what
	// feedback references).
	RequestID string `json:"request_id"`
}

// InvocationsResponse is the body of a successful MLflow scoring request.
type InvocationsResponse struct {
	Predictions []Prediction `json:"predictions"`
	// RequestID is the id the server gave the request (also in the
	// X-Request-Id header).
	RequestID       string `json:"request_id"`
	ClientRequestID string `json:"client_request_id,omitempty"`
	Experiment      string `json:"experiment,omitempty"`
}

// serveInvocations serves POST /invocations (the experiment endpoint) and
// POST /endpoints/{name}/invocations.
func (s *Server) serveInvocations(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	w.Header().Set(HeaderRequestID, requestID)
	name := r.PathValue("name")
	if name == "" {
		if s.deps.Experiment == nil {
			s.fail(w, r, requestID, ModelNotFound.New("path", "no experiment endpoint is configured: use /endpoints/{name}/invocations with a model name or alias"))
			return
		}
		name = s.cfg.Experiment
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, requestID, err)
		return
	}
	t, err := s.resolve(name)
	if err != nil {
		s.fail(w, r, requestID, err)
		return
	}
	inputNames, _, err := s.names(t)
	if err != nil {
		s.fail(w, r, requestID, err)
		return
	}
	parts, err := s.mlflowParts(body, inputNames)
	if err != nil {
		s.fail(w, r, requestID, err)
		return
	}
	clientID := truncate(r.Header.Get(HeaderClientRequestID), maxClientIDLen)
	out, err := s.infer(r.Context(), &call{requestID: requestID, clientID: clientID, target: t, parts: parts})
	if err != nil {
		s.fail(w, r, requestID, err)
		return
	}
	res := out.res
	resp := InvocationsResponse{Predictions: make([]Prediction, len(res.probs)), RequestID: requestID,
		ClientRequestID: clientID, Experiment: out.experiment.Name}
	for i, p := range res.probs {
		resp.Predictions[i] = Prediction{Probability: p, Label: res.meta.Label(p), Threshold: res.meta.Threshold,
			ModelName: res.ref.Name, ModelVersion: res.ref.Version, Arm: res.arm, RequestID: out.ids[i]}
	}
	s.log.Debug("invocation served", attrRequestID, requestID, attrEndpoint, t.name, attrArm, res.arm, attrModel, res.ref.Name, attrVersion, res.ref.Version)
	writeJSON(w, http.StatusOK, resp)
}

// mlflowForms are the top-level keys of MLflow's scoring input, one of which
// a body holds.
var mlflowForms = []string{"inputs", "instances", "dataframe_split", "dataframe_records"}

// mlflowParts decodes an MLflow scoring body into parts:
//
//	{"inputs": <tensor>}                     one tensor: HxW, 1xHxW, NxHxW, Nx1xHxW
//	{"inputs": {"<input>": <tensor>, "image_base64": [...], ...}}
//	{"instances": [<tensor> | {<column>: <value>}, ...]}
//	{"dataframe_split": {"columns": [...], "data": [[...], ...]}}
//	{"dataframe_records": [{<column>: <value>}, ...]}
//
// where a column is the model's input name (a tensor of one image) or an
// image reference (image_path, image_uri, image_base64). "params" is
// accepted and ignored.
func (s *Server) mlflowParts(body []byte, inputNames []string) ([]part, error) {
	var top map[string]json.RawMessage
	if err := decodeJSON(body, &top); err != nil {
		return nil, err
	}
	if top == nil {
		return nil, InvalidRequest.New("body", "body: want a JSON object with one of %q", mlflowForms)
	}
	var form string
	for _, k := range sortedKeys(top) {
		switch {
		case slices.Contains(mlflowForms, k):
			if form != "" {
				return nil, InvalidRequest.New(k, "body has both %q and %q: send one input form", form, k)
			}
			form = k
		case k == "params":
		default:
			return nil, InvalidRequest.New(k, "field %q: not an MLflow scoring field; want one of %q (and optional \"params\")", k, mlflowForms)
		}
	}
	raw := top[form]
	cols := columns{names: inputNames}
	switch form {
	case "":
		return nil, InvalidRequest.New("body", "body: want one of %q", mlflowForms)
	case "inputs":
		switch firstByte(raw) {
		case '[':
			p, err := tensorPart("inputs", raw)
			if err != nil {
				return nil, err
			}
			return []part{p}, nil
		case '{':
			return s.namedInputs(raw, cols)
		}
		return nil, InvalidRequest.New("inputs", "inputs: want a tensor (nested array of numbers) or an object of named inputs")
	case "instances":
		var rows []json.RawMessage
		if err := decodeJSON(raw, &rows); err != nil {
			return nil, InvalidRequest.New("instances", "instances: want an array")
		}
		var parts []part
		for i, row := range rows {
			field := fmt.Sprintf("instances[%d]", i)
			switch firstByte(row) {
			case '[':
				p, err := tensorPart(field, row)
				if err != nil {
					return nil, err
				}
				parts = append(parts, p)
			case '{':
				var rec map[string]json.RawMessage
				if err := decodeJSON(row, &rec); err != nil {
					return nil, err
				}
				p, err := s.record(field, rec, cols)
				if err != nil {
					return nil, err
				}
				parts = append(parts, p)
			default:
				return nil, InvalidRequest.New(field, "%s: want a tensor or an object with one of %q", field, cols.accepted())
			}
		}
		return parts, nil
	case "dataframe_split":
		var df struct {
			Columns []string            `json:"columns"`
			Data    [][]json.RawMessage `json:"data"`
		}
		if err := decodeJSON(raw, &df); err != nil {
			return nil, err
		}
		if len(df.Columns) == 0 {
			return nil, InvalidRequest.New("dataframe_split.columns", "dataframe_split.columns: required, one of %q", cols.accepted())
		}
		parts := make([]part, 0, len(df.Data))
		for i, row := range df.Data {
			field := fmt.Sprintf("dataframe_split.data[%d]", i)
			if len(row) != len(df.Columns) {
				return nil, InvalidRequest.New(field, "%s: %d values for %d columns", field, len(row), len(df.Columns))
			}
			rec := make(map[string]json.RawMessage, len(row))
			for j, c := range df.Columns {
				rec[c] = row[j]
			}
			p, err := s.record(field, rec, cols)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		}
		return parts, nil
	default: // dataframe_records
		var recs []map[string]json.RawMessage
		if err := decodeJSON(raw, &recs); err != nil {
			return nil, InvalidRequest.New("dataframe_records", "dataframe_records: want an array of objects")
		}
		parts := make([]part, 0, len(recs))
		for i, rec := range recs {
			p, err := s.record(fmt.Sprintf("dataframe_records[%d]", i), rec, cols)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		}
		return parts, nil
	}
}

// columns are the names a record may use.
type columns struct{ names []string }

func (c columns) accepted() []string {
	return append(slices.Clone(c.names), ColumnImagePath, ColumnImageURI, ColumnImageBase64)
}

func (c columns) known(k string) bool { return slices.Contains(c.accepted(), k) }

// record makes the part of one row or instance: exactly one non-null known
// column, holding a tensor of one image or an image reference.
func (s *Server) record(field string, rec map[string]json.RawMessage, cols columns) (part, error) {
	var key string
	for _, k := range sortedKeys(rec) {
		if !cols.known(k) {
			return part{}, UnknownInput.New(field+"."+k, "column %q: not an input of the model; want one of %q", k, cols.accepted())
		}
		if isNull(rec[k]) {
			continue
		}
		if key != "" {
			return part{}, InvalidRequest.New(field, "%s: both %q and %q are set; give one input per row", field, key, k)
		}
		key = k
	}
	if key == "" {
		return part{}, InvalidRequest.New(field, "%s: no input; want one of %q", field, cols.accepted())
	}
	f := field + "." + key
	if slices.Contains(cols.names, key) {
		return tensorPart(f, rec[key])
	}
	var str string
	if err := json.Unmarshal(rec[key], &str); err != nil {
		return part{}, InvalidImageRef.New(f, "%s: want a string", key)
	}
	return s.imageRef(f, key, str)
}

// namedInputs decodes {"inputs": {name: value, ...}}: the model's input as a
// tensor, or image references as a string or an array of strings.
func (s *Server) namedInputs(raw json.RawMessage, cols columns) ([]part, error) {
	var named map[string]json.RawMessage
	if err := decodeJSON(raw, &named); err != nil {
		return nil, err
	}
	var parts []part
	for _, k := range sortedKeys(named) {
		f := "inputs." + k
		v := named[k]
		switch {
		case !cols.known(k):
			return nil, UnknownInput.New(f, "input %q: not an input of the model; want one of %q", k, cols.accepted())
		case slices.Contains(cols.names, k):
			p, err := tensorPart(f, v)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		case firstByte(v) == '"':
			var str string
			if err := json.Unmarshal(v, &str); err != nil {
				return nil, InvalidImageRef.New(f, "%s: %v", k, err)
			}
			p, err := s.imageRef(f, k, str)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		default:
			var strs []string
			if err := json.Unmarshal(v, &strs); err != nil {
				return nil, InvalidImageRef.New(f, "%s: want a string or an array of strings", k)
			}
			for i, str := range strs {
				p, err := s.imageRef(fmt.Sprintf("%s[%d]", f, i), k, str)
				if err != nil {
					return nil, err
				}
				parts = append(parts, p)
			}
		}
	}
	if len(parts) == 0 {
		return nil, InvalidRequest.New("inputs", "inputs: no input; want one of %q", cols.accepted())
	}
	return parts, nil
}

// imageRef reads the image a reference column names.
func (s *Server) imageRef(field, column, v string) (part, error) {
	var data []byte
	var uri string
	var err error
	switch column {
	case ColumnImagePath:
		data, uri, err = s.readImagePath(field, v)
	case ColumnImageURI:
		data, uri, err = s.readImageURI(field, v)
	default:
		data, uri, err = decodeInlineImage(field, v, s.cfg.MaxImageBytes)
	}
	if err != nil {
		return part{}, err
	}
	return imagePart(field, data, uri), nil
}

// tensorPart decodes a nested array of numbers; its shape is checked against
// the model once the request is routed.
func tensorPart(field string, raw json.RawMessage) (part, error) {
	t, err := DecodeTensor(raw)
	if err != nil {
		return part{}, InvalidTensorData.New(field, "%s: %v", field, err)
	}
	if t.Strings != nil {
		return part{}, InvalidTensorData.New(field, "%s: want numbers, found strings (send images in an %q column)", field, ColumnImageBase64)
	}
	if t.Len() == 0 {
		return part{}, InvalidTensorShape.New(field, "%s: empty tensor (shape %v)", field, t.Shape)
	}
	return part{field: field, values: t.Floats, shape: t.Shape}, nil
}

func firstByte(raw []byte) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func isNull(raw []byte) bool {
	return strings.TrimSpace(string(raw)) == "null" || len(bytes.TrimSpace(raw)) == 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
