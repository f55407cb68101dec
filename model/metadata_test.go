package model_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthcare-ai/platform/model"
)

func validMetadata() model.Metadata {
	return model.Metadata{
		SchemaVersion: 1,
		Name:          "pneumonia-simplecnn",
		Version:       "1.0.0",
		Architecture:  "SimpleCNN",
		Labels:        []string{"NORMAL", "PNEUMONIA"},
		PositiveLabel: "PNEUMONIA",
		Output:        model.OutputSigmoid,
		InputName:     "image",
		OutputName:    "prob",
		Threshold:     0.42,
		Preprocess: model.PreprocessSpec{
			Width: 64, Height: 64, Channels: 1, Layout: "NCHW", Color: "gray-bt601",
			Resize: "block-mean-area", Scale: 1.0 / 255, Mean: 0.5, Std: 0.25,
		},
		TrainingData: model.TrainingData{Counts: map[string]map[string]int{"train": {"NORMAL": 1}}},
		Metrics:      map[string]model.Metrics{"test": {N: 3}},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*model.Metadata)
		want   []string // substrings of the error; none means valid
	}{
		{"valid", func(*model.Metadata) {}, nil},
		{"softmax", func(m *model.Metadata) { m.Output = model.OutputSoftmax }, nil},
		{"logit", func(m *model.Metadata) { m.Output = model.OutputLogit }, nil},
		{"three channels", func(m *model.Metadata) { m.Preprocess.Channels = 3 }, nil},
		{"schema missing", func(m *model.Metadata) { m.SchemaVersion = 0 }, []string{"schema_version: missing"}},
		{"schema newer", func(m *model.Metadata) { m.SchemaVersion = 2 }, []string{"schema_version: 2 is not supported"}},
		{"no name", func(m *model.Metadata) { m.Name = " " }, []string{"name: must not be empty"}},
		{"no version", func(m *model.Metadata) { m.Version = "" }, []string{"version: must not be empty"}},
		{"positive not in labels", func(m *model.Metadata) { m.PositiveLabel = "COVID" },
			[]string{`positive_label: "COVID" is not one of labels ["NORMAL" "PNEUMONIA"]`}},
		{"positive empty", func(m *model.Metadata) { m.PositiveLabel = "" }, []string{"positive_label: must not be empty"}},
		{"one label", func(m *model.Metadata) { m.Labels = []string{"PNEUMONIA"} }, []string{"labels: [\"PNEUMONIA\"]: want exactly two labels"}},
		{"three labels", func(m *model.Metadata) { m.Labels = []string{"NORMAL", "PNEUMONIA", "COVID"} }, []string{"want exactly two labels"}},
		{"repeated label", func(m *model.Metadata) { m.Labels = []string{"PNEUMONIA", "PNEUMONIA"} }, []string{`labels[1]: "PNEUMONIA" is repeated`}},
		{"empty label", func(m *model.Metadata) { m.Labels = []string{"", "PNEUMONIA"} }, []string{"labels[0]: must not be empty"}},
		{"output unknown", func(m *model.Metadata) { m.Output = "relu" }, []string{`output: "relu": must be one of sigmoid, softmax, logit`}},
		{"output empty", func(m *model.Metadata) { m.Output = "" }, []string{`output: "": must be one of`}},
		{"input name", func(m *model.Metadata) { m.InputName = "" }, []string{"input_name: must not be empty"}},
		{"output name", func(m *model.Metadata) { m.OutputName = "" }, []string{"output_name: must not be empty"}},
		{"threshold 0", func(m *model.Metadata) { m.Threshold = 0 }, []string{"threshold: 0: must be in (0, 1)"}},
		{"threshold 1", func(m *model.Metadata) { m.Threshold = 1 }, []string{"threshold: 1: must be in (0, 1)"}},
		{"threshold NaN", func(m *model.Metadata) { m.Threshold = math.NaN() }, []string{"threshold: NaN"}},
		{"width", func(m *model.Metadata) { m.Preprocess.Width = 0 }, []string{"preprocess.width: 0: must be > 0"}},
		{"height", func(m *model.Metadata) { m.Preprocess.Height = -64 }, []string{"preprocess.height: -64: must be > 0"}},
		{"channels", func(m *model.Metadata) { m.Preprocess.Channels = 2 }, []string{"preprocess.channels: 2: must be 1 or 3"}},
		{"scale", func(m *model.Metadata) { m.Preprocess.Scale = 0 }, []string{"preprocess.scale: 0"}},
		{"std", func(m *model.Metadata) { m.Preprocess.Std = 0 }, []string{"preprocess.std: 0"}},
		{"mean", func(m *model.Metadata) { m.Preprocess.Mean = float32(math.Inf(1)) }, []string{"preprocess.mean: +Inf: must be finite"}},
		{"several at once", func(m *model.Metadata) { m.Threshold = 2; m.Preprocess.Width = 0 },
			[]string{"threshold: 2: must be in (0, 1); preprocess.width: 0: must be > 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMetadata()
			tt.change(&m)
			err := m.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
			var fe *model.FieldError
			if !errors.As(err, &fe) {
				t.Errorf("Validate() error %T does not hold a *model.FieldError", err)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseMetadata(t *testing.T) {
	valid := mustJSON(t, validMetadata())
	invalid := validMetadata()
	invalid.Threshold = 1.5
	tests := []struct {
		name    string
		props   map[string]string
		want    string // substring of the error, "" for success
		noMeta  bool   // error wraps ErrNoMetadata
		partial bool   // metadata returned along with the error
	}{
		{name: "valid", props: map[string]string{model.MetadataKey: valid}},
		{name: "valid with plain keys", props: map[string]string{model.MetadataKey: valid, model.NameKey: "pneumonia-simplecnn", model.VersionKey: "1.0.0"}},
		{name: "nil map", props: nil, want: "no hap.metadata in ONNX metadata_props (keys found: none)", noMeta: true},
		{name: "other keys only", props: map[string]string{"b": "1", "a": "2"}, want: "(keys found: a, b)", noMeta: true},
		{name: "empty value", props: map[string]string{model.MetadataKey: ""}, want: "hap.metadata: decode model metadata: empty JSON"},
		{name: "malformed", props: map[string]string{model.MetadataKey: `{"name": "x",`}, want: "hap.metadata: decode model metadata"},
		{name: "syntax error offset", props: map[string]string{model.MetadataKey: `{"name" "x"}`}, want: "at byte 9"},
		{name: "wrong type", props: map[string]string{model.MetadataKey: `{"threshold": "high"}`}, want: "field threshold"},
		{name: "trailing data", props: map[string]string{model.MetadataKey: valid + "{}"}, want: "unexpected data after the JSON object"},
		{name: "not an object", props: map[string]string{model.MetadataKey: `[1,2]`}, want: "decode model metadata"},
		{name: "invalid", props: map[string]string{model.MetadataKey: mustJSON(t, invalid)},
			want: "hap.metadata: invalid model metadata pneumonia-simplecnn 1.0.0: threshold: 1.5: must be in (0, 1)", partial: true},
		{name: "name differs", props: map[string]string{model.MetadataKey: valid, model.NameKey: "other"},
			want: `hap.name "other" does not match name "pneumonia-simplecnn" in hap.metadata`, partial: true},
		{name: "version differs", props: map[string]string{model.MetadataKey: valid, model.VersionKey: "2.0.0"},
			want: `hap.version "2.0.0" does not match version "1.0.0" in hap.metadata`, partial: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := model.ParseMetadata(tt.props)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ParseMetadata() = %v", err)
				}
				if m.Name != "pneumonia-simplecnn" || m.Preprocess.Scale != float32(1.0/255) {
					t.Errorf("ParseMetadata() = %+v", m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseMetadata() error = %v, want it to contain %q", err, tt.want)
			}
			if got := errors.Is(err, model.ErrNoMetadata); got != tt.noMeta {
				t.Errorf("errors.Is(err, ErrNoMetadata) = %v, want %v", got, tt.noMeta)
			}
			if got := m.Name != ""; got != tt.partial {
				t.Errorf("metadata returned with the error: %v, want %v", got, tt.partial)
			}
		})
	}
}

func TestDecodeCard(t *testing.T) {
	// The card written by testdata/make_models.py next to tiny-sigmoid.onnx.
	data, err := os.ReadFile(filepath.Join("testdata", model.CardFileName("tiny-sigmoid")))
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.DecodeMetadata(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "tiny-sigmoid" || m.Output != model.OutputSigmoid || m.Preprocess.Len() != 64*64 ||
		m.Metrics["test"].Confusion.TP != 4 || m.TrainingData.Counts["val"]["PNEUMONIA"] != 4 || m.Opset != 17 {
		t.Errorf("DecodeMetadata(card) = %+v", m)
	}
}

func TestLabel(t *testing.T) {
	m := validMetadata() // threshold 0.42
	m.Labels = []string{"PNEUMONIA", "NORMAL"}
	for _, tt := range []struct {
		p    float64
		want string
	}{{0, "NORMAL"}, {0.4199, "NORMAL"}, {0.42, "PNEUMONIA"}, {1, "PNEUMONIA"}} {
		if got := m.Label(tt.p); got != tt.want {
			t.Errorf("Label(%v) = %q, want %q", tt.p, got, tt.want)
		}
	}
	if got := m.PositiveIndex(); got != 0 {
		t.Errorf("PositiveIndex() = %d, want 0", got)
	}
}

func TestClone(t *testing.T) {
	m := validMetadata()
	c := m.Clone()
	c.Labels[0] = "changed"
	c.TrainingData.Counts["train"]["NORMAL"] = 99
	c.Metrics["val"] = model.Metrics{}
	if m.Labels[0] != "NORMAL" || m.TrainingData.Counts["train"]["NORMAL"] != 1 || len(m.Metrics) != 1 {
		t.Errorf("Clone shares state with the original: %+v", m)
	}
}
