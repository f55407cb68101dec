// Package model holds the contract between training and serving: the metadata
// that the Python training writes into every exported ONNX model (under the
// metadata_props key "hap.metadata") and next to it as a model card
// (<name>.card.json), and the small Predictor interface that model runtimes
// implement.
//
// The package has no dependencies beyond the standard library. Runtimes live in
// packages named for what they depend on (model/onnxrt: ONNX Runtime).
//
// A Metadata value is plain data. Metadata.Validate checks everything a runtime
// relies on; ParseMetadata and DecodeMetadata return an error unless the
// metadata is valid.
package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
)

// SchemaVersion is the version of the metadata schema this package reads.
const SchemaVersion = 1

// Keys of the ONNX metadata_props written by the training pipeline.
const (
	// MetadataKey holds the whole Metadata as JSON.
	MetadataKey = "hap.metadata"
	// NameKey and VersionKey hold copies of Metadata.Name and Metadata.Version,
	// for tools that read plain keys only (Netron, onnx.load).
	NameKey    = "hap.name"
	VersionKey = "hap.version"
)

// CardFileName returns the file name of the model card written next to the
// ONNX file of the model called name: "<name>.card.json".
func CardFileName(name string) string { return name + ".card.json" }

// Output says how the model's output tensor maps to P(positive).
type Output string

const (
	// OutputSigmoid: one output unit per item that already holds P(positive)
	// (the graph ends with a Sigmoid).
	OutputSigmoid Output = "sigmoid"
	// OutputSoftmax: len(Labels) output units per item that already hold class
	// probabilities (the graph ends with a Softmax); P(positive) is the unit at
	// the index of PositiveLabel in Labels.
	OutputSoftmax Output = "softmax"
	// OutputLogit: one output unit per item holding the logit of P(positive);
	// the runtime applies the sigmoid.
	OutputLogit Output = "logit"
)

// Units returns the number of output units per item for this output kind and
// the given number of labels, or 0 for an unknown kind.
func (o Output) Units(labels int) int {
	switch o {
	case OutputSigmoid, OutputLogit:
		return 1
	case OutputSoftmax:
		return labels
	}
	return 0
}

// Metadata describes a trained model: what it predicts, how its input must be
// preprocessed, how to read its output and how it performed.
type Metadata struct {
	SchemaVersion int    `json:"schema_version"` // SchemaVersion (1)
	Name          string `json:"name"`           // e.g. "pneumonia-simplecnn"
	Version       string `json:"version"`        // e.g. "1.0.0"
	Architecture  string `json:"architecture"`   // "SimpleCNN", ...
	Description   string `json:"description"`
	// Labels are the class names in output order; exactly two (binary classifier).
	Labels []string `json:"labels"` // ["NORMAL","PNEUMONIA"]
	// PositiveLabel is the label whose probability the model reports.
	PositiveLabel string `json:"positive_label"` // "PNEUMONIA"
	Output        Output `json:"output"`         // sigmoid | softmax | logit
	InputName     string `json:"input_name"`
	OutputName    string `json:"output_name"`
	// Threshold: P(positive) >= Threshold means PositiveLabel.
	Threshold     float64            `json:"threshold"`
	ThresholdRule string             `json:"threshold_rule"` // how the threshold was chosen
	Preprocess    PreprocessSpec     `json:"preprocess"`
	TrainingData  TrainingData       `json:"training_data"`
	Metrics       map[string]Metrics `json:"metrics"`   // by split: "val", "test"
	Framework     string             `json:"framework"` // "pytorch 1.13.1"
	Opset         int                `json:"opset"`
	CreatedAt     string             `json:"created_at"`
}

// PreprocessSpec is the preprocessing the model was trained with. It mirrors
// the JSON of preprocess.Spec (package xray/preprocess) field for field; it is
// kept here so that this package does not depend on the image code.
//
// The value fed to the model is ((pixel * Scale) - Mean) / Std.
type PreprocessSpec struct {
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	Channels int     `json:"channels"`
	Layout   string  `json:"layout"` // "NCHW"
	Color    string  `json:"color"`  // e.g. "gray-bt601"
	Resize   string  `json:"resize"` // e.g. "block-mean-area"
	Scale    float32 `json:"scale"`  // multiplies the 0..255 gray value, e.g. 1/255
	Mean     float32 `json:"mean"`
	Std      float32 `json:"std"`
}

// Len returns the number of float32 values of one preprocessed image:
// Channels*Height*Width (as preprocess.Spec.Len).
func (p PreprocessSpec) Len() int { return p.Channels * p.Height * p.Width }

// TrainingData identifies the data set a model was trained on.
type TrainingData struct {
	Source      string `json:"source"`
	Fingerprint string `json:"fingerprint"`
	// Counts holds the number of images by split, then by label.
	Counts map[string]map[string]int `json:"counts"`
}

// Metrics are the evaluation results of a model on one split.
type Metrics struct {
	N           int       `json:"n"`
	Accuracy    float64   `json:"accuracy"`
	Sensitivity float64   `json:"sensitivity"`
	Specificity float64   `json:"specificity"`
	AUC         float64   `json:"auc"`
	Brier       float64   `json:"brier"`
	Confusion   Confusion `json:"confusion"`
}

// Confusion is a binary confusion matrix at the model's threshold.
type Confusion struct {
	TP int `json:"tp"`
	FP int `json:"fp"`
	TN int `json:"tn"`
	FN int `json:"fn"`
}

// FieldError reports an invalid metadata field. Field is the JSON name
// ("preprocess.width"), Reason says what is wrong.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// FieldErrors is the error Validate returns: one *FieldError per invalid
// field. errors.As finds each *FieldError in it.
type FieldErrors []*FieldError

func (e FieldErrors) Error() string {
	parts := make([]string, len(e))
	for i, fe := range e {
		parts[i] = fe.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap returns the field errors, for errors.Is and errors.As.
func (e FieldErrors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, fe := range e {
		errs[i] = fe
	}
	return errs
}

// ErrNoMetadata is returned (wrapped) by ParseMetadata when the ONNX model has no
// "hap.metadata" entry.
var ErrNoMetadata = errors.New("no " + MetadataKey + " in ONNX metadata_props")

// Validate checks the fields a runtime relies on. It returns nil or a
// FieldErrors listing every invalid field.
func (m Metadata) Validate() error {
	var errs FieldErrors
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	switch {
	case m.SchemaVersion == 0:
		bad("schema_version", "missing (want %d)", SchemaVersion)
	case m.SchemaVersion != SchemaVersion:
		bad("schema_version", "%d is not supported (this build reads %d)", m.SchemaVersion, SchemaVersion)
	}
	if strings.TrimSpace(m.Name) == "" {
		bad("name", "must not be empty")
	}
	if strings.TrimSpace(m.Version) == "" {
		bad("version", "must not be empty")
	}
	labelsOK := true
	if len(m.Labels) != 2 {
		bad("labels", "%q: want exactly two labels (binary classifier), got %d", m.Labels, len(m.Labels))
		labelsOK = false
	}
	for i, l := range m.Labels {
		if strings.TrimSpace(l) == "" {
			bad(fmt.Sprintf("labels[%d]", i), "must not be empty")
			labelsOK = false
		} else if slices.Index(m.Labels, l) != i {
			bad(fmt.Sprintf("labels[%d]", i), "%q is repeated", l)
			labelsOK = false
		}
	}
	switch {
	case m.PositiveLabel == "":
		bad("positive_label", "must not be empty")
	case labelsOK && !slices.Contains(m.Labels, m.PositiveLabel):
		bad("positive_label", "%q is not one of labels %q", m.PositiveLabel, m.Labels)
	}
	switch m.Output {
	case OutputSigmoid, OutputSoftmax, OutputLogit:
	default:
		bad("output", "%q: must be one of %s, %s, %s", m.Output, OutputSigmoid, OutputSoftmax, OutputLogit)
	}
	if m.InputName == "" {
		bad("input_name", "must not be empty")
	}
	if m.OutputName == "" {
		bad("output_name", "must not be empty")
	}
	if !(m.Threshold > 0 && m.Threshold < 1) { // also rejects NaN
		bad("threshold", "%v: must be in (0, 1)", m.Threshold)
	}
	p := m.Preprocess
	if p.Width <= 0 {
		bad("preprocess.width", "%d: must be > 0", p.Width)
	}
	if p.Height <= 0 {
		bad("preprocess.height", "%d: must be > 0", p.Height)
	}
	if p.Channels != 1 && p.Channels != 3 {
		bad("preprocess.channels", "%d: must be 1 or 3", p.Channels)
	}
	if !(p.Scale > 0) || math.IsInf(float64(p.Scale), 0) {
		bad("preprocess.scale", "%v: must be a finite number > 0", p.Scale)
	}
	if math.IsNaN(float64(p.Mean)) || math.IsInf(float64(p.Mean), 0) {
		bad("preprocess.mean", "%v: must be finite", p.Mean)
	}
	if !(p.Std > 0) || math.IsInf(float64(p.Std), 0) {
		bad("preprocess.std", "%v: must be a finite number > 0", p.Std)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// PositiveIndex returns the index of PositiveLabel in Labels, or -1.
func (m Metadata) PositiveIndex() int { return slices.Index(m.Labels, m.PositiveLabel) }

// NegativeLabel returns the label that is not PositiveLabel (Labels has two).
func (m Metadata) NegativeLabel() string {
	for _, l := range m.Labels {
		if l != m.PositiveLabel {
			return l
		}
	}
	return ""
}

// Label returns PositiveLabel when p >= Threshold, else the other label.
func (m Metadata) Label(p float64) string {
	if p >= m.Threshold {
		return m.PositiveLabel
	}
	return m.NegativeLabel()
}

// Clone returns a deep copy of m, so that callers may keep or change it without
// affecting the original.
func (m Metadata) Clone() Metadata {
	m.Labels = slices.Clone(m.Labels)
	if m.TrainingData.Counts != nil {
		counts := make(map[string]map[string]int, len(m.TrainingData.Counts))
		for split, byLabel := range m.TrainingData.Counts {
			counts[split] = maps.Clone(byLabel)
		}
		m.TrainingData.Counts = counts
	}
	m.Metrics = maps.Clone(m.Metrics)
	return m
}

// DecodeMetadata decodes metadata JSON (the value of "hap.metadata" or a model
// card) and validates it. On a validation error it returns the decoded
// metadata together with the error, so callers can still report name and
// version.
func DecodeMetadata(data []byte) (Metadata, error) {
	var m Metadata
	if len(bytes.TrimSpace(data)) == 0 {
		return Metadata{}, errors.New("decode model metadata: empty JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return Metadata{}, fmt.Errorf("decode model metadata: at byte %d: %w", syn.Offset, err)
		case errors.As(err, &typ):
			return Metadata{}, fmt.Errorf("decode model metadata: field %s: %w", typ.Field, err)
		}
		return Metadata{}, fmt.Errorf("decode model metadata: %w", err)
	}
	if dec.More() {
		return Metadata{}, errors.New("decode model metadata: unexpected data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("invalid model metadata %s %s: %w", m.Name, m.Version, err)
	}
	return m, nil
}

// ParseMetadata reads the model metadata from the custom metadata map of an
// ONNX model (metadata_props). It requires the "hap.metadata" key (errors
// wrap ErrNoMetadata when it is missing), decodes and validates it, and checks
// that the plain keys "hap.name" and "hap.version", when present, agree with it.
func ParseMetadata(props map[string]string) (Metadata, error) {
	raw, ok := props[MetadataKey]
	if !ok {
		keys := slices.Collect(maps.Keys(props))
		sort.Strings(keys)
		found := "none"
		if len(keys) > 0 {
			found = strings.Join(keys, ", ")
		}
		return Metadata{}, fmt.Errorf("%w (keys found: %s): export the model with the training pipeline, which writes it", ErrNoMetadata, found)
	}
	m, err := DecodeMetadata([]byte(raw))
	if err != nil {
		return m, fmt.Errorf("%s: %w", MetadataKey, err)
	}
	if v, ok := props[NameKey]; ok && v != m.Name {
		return m, fmt.Errorf("%s %q does not match name %q in %s", NameKey, v, m.Name, MetadataKey)
	}
	if v, ok := props[VersionKey]; ok && v != m.Version {
		return m, fmt.Errorf("%s %q does not match version %q in %s", VersionKey, v, m.Version, MetadataKey)
	}
	return m, nil
}
