package onnxrt

import (
	"math"
	"strings"
	"testing"

	"github.com/healthcare-ai/platform/model"
)

// TestProbabilities covers output values that a well-formed graph never
// produces: they must be errors, not probabilities.
func TestProbabilities(t *testing.T) {
	newModel := func(output model.Output, labels ...string) *Model {
		meta := model.Metadata{Labels: labels, PositiveLabel: "PNEUMONIA", Output: output, OutputName: "out"}
		return &Model{meta: meta, lay: layout{units: output.Units(len(labels))}, posIdx: meta.PositiveIndex()}
	}
	nan := float32(math.NaN())
	tests := []struct {
		name   string
		m      *Model
		out    []float32
		want   []float64
		errMsg string
	}{
		{name: "sigmoid", m: newModel(model.OutputSigmoid, "NORMAL", "PNEUMONIA"), out: []float32{0, 0.25, 1}, want: []float64{0, 0.25, 1}},
		{name: "sigmoid above 1", m: newModel(model.OutputSigmoid, "NORMAL", "PNEUMONIA"), out: []float32{0.5, 1.5},
			errMsg: `output "out" item 1: P(PNEUMONIA) = 1.5 is not in [0, 1] (metadata output "sigmoid")`},
		{name: "sigmoid NaN", m: newModel(model.OutputSigmoid, "NORMAL", "PNEUMONIA"), out: []float32{nan}, errMsg: "= NaN is not in [0, 1]"},
		{name: "logit", m: newModel(model.OutputLogit, "NORMAL", "PNEUMONIA"), out: []float32{0, 2, -1000, 1000},
			want: []float64{0.5, 1 / (1 + math.Exp(-2)), 0, 1}},
		{name: "logit NaN", m: newModel(model.OutputLogit, "NORMAL", "PNEUMONIA"), out: []float32{nan}, errMsg: "NaN"},
		{name: "softmax positive second", m: newModel(model.OutputSoftmax, "NORMAL", "PNEUMONIA"), out: []float32{0.75, 0.25, 0.125, 0.875},
			want: []float64{0.25, 0.875}},
		{name: "softmax positive first", m: newModel(model.OutputSoftmax, "PNEUMONIA", "NORMAL"), out: []float32{0.75, 0.25},
			want: []float64{0.75}},
		{name: "softmax of logits", m: newModel(model.OutputSoftmax, "NORMAL", "PNEUMONIA"), out: []float32{0.5, 0.5, 0.2, 0.3},
			errMsg: `output "out" item 1: [0.2 0.3] sums to 0.5`},
		{name: "softmax negative", m: newModel(model.OutputSoftmax, "NORMAL", "PNEUMONIA"), out: []float32{-1, 2},
			errMsg: `item 0: [-1 2] is not a probability (metadata output "softmax" expects the graph to end with Softmax)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(tt.out) / tt.m.lay.units
			got, err := tt.m.probabilities(tt.out, n)
			if tt.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errMsg) {
					t.Fatalf("probabilities() = %v, %v; want an error containing %q", got, err, tt.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				if math.Abs(got[i]-tt.want[i]) > 1e-7 {
					t.Errorf("item %d: P = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}
