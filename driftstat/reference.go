package driftstat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/healthcare-ai/platform/proto"
)

// PropertyKey is the ONNX metadata_props key that holds a model's Reference
// as JSON, next to hap.metadata. Rewriting the metadata (model.WithMetadata,
// e.g. `hap models rethreshold`) keeps it, so every registry version made
// from a model carries its reference.
const PropertyKey = "hap.drift_reference"

// ReferenceSchemaVersion is the version of the Reference JSON.
const ReferenceSchemaVersion = 1

// Reference is the distribution of a model's input statistics and
// predictions on its training data: what production is compared with.
type Reference struct {
	SchemaVersion int    `json:"schema_version"`
	Model         string `json:"model"`         // model metadata name
	ModelVersion  string `json:"model_version"` // model metadata (release) version
	// Images is the number of training images the reference was computed
	// on; Source says which (generator, options, split) and how.
	Images int    `json:"images"`
	Source string `json:"source"`
	// Lo and Hi are the input histogram range (see proto.InputStats).
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
	// Histogram is the pooled input histogram: the share of all tensor
	// values of all images in each of proto.InputStatsBins bins (sum 1).
	Histogram []float64 `json:"histogram"`
	// Means are the per-image tensor means, sorted (rounded to 1e-4).
	Means []float64 `json:"means"`
	// Probabilities are the per-image P(positive), sorted (rounded to
	// 1e-5), so the positive rate can be read at any threshold (a
	// re-thresholded version keeps the reference).
	Probabilities []float64 `json:"probabilities"`
	// Threshold and PositiveRate: the share of images with probability >=
	// Threshold, at the model's threshold when the reference was made (for
	// reading; Evaluate uses PositiveRateAt with the served threshold).
	Threshold    float64 `json:"threshold"`
	PositiveRate float64 `json:"positive_rate"`
	CreatedAt    string  `json:"created_at"`
	// ComputeSeconds is how long computing it took.
	ComputeSeconds float64 `json:"compute_seconds"`
}

// Validate checks what Evaluate relies on.
func (r *Reference) Validate() error {
	var errs []error
	if r.SchemaVersion != ReferenceSchemaVersion {
		errs = append(errs, fmt.Errorf("schema_version %d: this build reads %d", r.SchemaVersion, ReferenceSchemaVersion))
	}
	if r.Images < 1 || len(r.Means) != r.Images || len(r.Probabilities) != r.Images {
		errs = append(errs, fmt.Errorf("images %d: want positive and equal to the number of means (%d) and probabilities (%d)",
			r.Images, len(r.Means), len(r.Probabilities)))
	}
	if len(r.Histogram) != proto.InputStatsBins {
		errs = append(errs, fmt.Errorf("histogram: %d bins, want %d", len(r.Histogram), proto.InputStatsBins))
	} else {
		s := 0.0
		for _, v := range r.Histogram {
			if !(v >= 0) || math.IsInf(v, 0) {
				errs = append(errs, fmt.Errorf("histogram: share %v: want finite, non-negative", v))
				break
			}
			s += v
		}
		if math.Abs(s-1) > 1e-6 {
			errs = append(errs, fmt.Errorf("histogram: shares sum to %v, want 1", s))
		}
	}
	if !(r.Lo < r.Hi) || math.IsInf(r.Lo, 0) || math.IsInf(r.Hi, 0) {
		errs = append(errs, fmt.Errorf("range [%v, %v]: want finite lo < hi", r.Lo, r.Hi))
	}
	for _, v := range r.Means {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			errs = append(errs, errors.New("means: want finite values"))
			break
		}
	}
	for _, v := range r.Probabilities {
		if !(v >= 0 && v <= 1) {
			errs = append(errs, fmt.Errorf("probabilities: %v is not in [0, 1]", v))
			break
		}
	}
	if !slices.IsSorted(r.Means) || !slices.IsSorted(r.Probabilities) {
		errs = append(errs, errors.New("means and probabilities must be sorted"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("drift reference %s %s: %w", r.Model, r.ModelVersion, errors.Join(errs...))
	}
	return nil
}

// PositiveRateAt is the share of reference images with probability >=
// threshold.
func (r *Reference) PositiveRateAt(threshold float64) float64 {
	if len(r.Probabilities) == 0 {
		return 0
	}
	i := sort.SearchFloat64s(r.Probabilities, threshold) // first >= threshold
	return float64(len(r.Probabilities)-i) / float64(len(r.Probabilities))
}

// DecodeReference decodes and validates a Reference's JSON.
func DecodeReference(data []byte) (*Reference, error) {
	var r Reference
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decode drift reference: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode drift reference: unexpected data after the JSON object")
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Builder accumulates the statistics of training images into a Reference.
// It is not safe for concurrent use.
type Builder struct {
	lo, hi float64
	counts []int64
	means  []float64
	probs  []float64
}

// NewBuilder returns a Builder for inputs with histogram range [lo, hi].
func NewBuilder(lo, hi float64) *Builder {
	return &Builder{lo: lo, hi: hi, counts: make([]int64, proto.InputStatsBins)}
}

// Add records one image: its input statistics and P(positive).
func (b *Builder) Add(st *proto.InputStats, probability float64) error {
	if st == nil {
		return errors.New("drift reference: image without input statistics")
	}
	if err := st.Check(); err != nil {
		return fmt.Errorf("drift reference: %w", err)
	}
	if !sameRange(st.Lo, st.Hi, b.lo, b.hi) {
		return fmt.Errorf("drift reference: input range [%v, %v], want [%v, %v]", st.Lo, st.Hi, b.lo, b.hi)
	}
	if !(probability >= 0 && probability <= 1) {
		return fmt.Errorf("drift reference: probability %v: not in [0, 1]", probability)
	}
	for i, c := range st.Histogram {
		b.counts[i] += int64(c)
	}
	b.means = append(b.means, st.Mean)
	b.probs = append(b.probs, probability)
	return nil
}

// Reference returns the reference of the images added so far, its positive
// rate read at threshold. The caller fills Model, ModelVersion, Source,
// CreatedAt and ComputeSeconds.
func (b *Builder) Reference(threshold float64) (*Reference, error) {
	if len(b.means) == 0 {
		return nil, errors.New("drift reference: no images")
	}
	r := &Reference{SchemaVersion: ReferenceSchemaVersion, Images: len(b.means), Lo: b.lo, Hi: b.hi,
		Histogram: make([]float64, proto.InputStatsBins), Threshold: threshold}
	total := int64(0)
	for _, c := range b.counts {
		total += c
	}
	for i, c := range b.counts {
		r.Histogram[i] = float64(c) / float64(total)
	}
	r.Means = make([]float64, len(b.means))
	for i, v := range b.means {
		r.Means[i] = math.Round(v*1e4) / 1e4
	}
	r.Probabilities = make([]float64, len(b.probs))
	for i, v := range b.probs {
		r.Probabilities[i] = math.Round(v*1e5) / 1e5
	}
	slices.Sort(r.Means)
	slices.Sort(r.Probabilities)
	r.PositiveRate = r.PositiveRateAt(threshold)
	return r, nil
}

// sameRange reports whether two histogram ranges are the same up to float32
// rounding.
func sameRange(lo1, hi1, lo2, hi2 float64) bool {
	tol := 1e-6 * max(1, math.Abs(hi2-lo2))
	return math.Abs(lo1-lo2) <= tol && math.Abs(hi1-hi2) <= tol
}
