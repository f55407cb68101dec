package onnxrt

import (
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/healthcare-ai/platform/model"
)

func tensor(name string, dims ...int64) ort.InputOutputInfo {
	return ort.InputOutputInfo{Name: name, OrtValueType: ort.ONNXTypeTensor, DataType: ort.TensorElementDataTypeFloat, Dimensions: dims}
}

func TestCheckSignature(t *testing.T) {
	meta := func(output model.Output) model.Metadata {
		return model.Metadata{
			Labels: []string{"NORMAL", "PNEUMONIA"}, PositiveLabel: "PNEUMONIA", Output: output,
			InputName: "image", OutputName: "prob",
			Preprocess: model.PreprocessSpec{Width: 64, Height: 32, Channels: 1, Layout: "NCHW"},
		}
	}
	in := []ort.InputOutputInfo{tensor("image", -1, 1, 32, 64)}
	out1 := []ort.InputOutputInfo{tensor("prob", -1, 1)}
	tests := []struct {
		name    string
		meta    model.Metadata
		inputs  []ort.InputOutputInfo
		outputs []ort.InputOutputInfo
		want    string // error substring, "" for success
		units   int
	}{
		{name: "sigmoid [N,1]", meta: meta(model.OutputSigmoid), inputs: in, outputs: out1, units: 1},
		{name: "logit [N]", meta: meta(model.OutputLogit), inputs: in, outputs: []ort.InputOutputInfo{tensor("prob", -1)}, units: 1},
		{name: "softmax [N,2]", meta: meta(model.OutputSoftmax), inputs: in, outputs: []ort.InputOutputInfo{tensor("prob", -1, 2)}, units: 2},
		{name: "dynamic H W and units", meta: meta(model.OutputSigmoid), inputs: []ort.InputOutputInfo{tensor("image", -1, 1, -1, -1)},
			outputs: []ort.InputOutputInfo{tensor("prob", -1, -1)}, units: 1},
		{name: "extra outputs", meta: meta(model.OutputSigmoid), inputs: in,
			outputs: []ort.InputOutputInfo{tensor("features", -1, 128), tensor("prob", -1, 1)}, units: 1},
		{name: "layout", meta: func() model.Metadata { m := meta(model.OutputSigmoid); m.Preprocess.Layout = "NHWC"; return m }(),
			inputs: in, outputs: out1, want: `preprocess.layout "NHWC": only NCHW is supported`},
		{name: "two inputs", meta: meta(model.OutputSigmoid), inputs: append(in, tensor("age", -1, 1)), outputs: out1,
			want: `graph has 2 inputs ("image", "age"), want exactly one, "image"`},
		{name: "input name", meta: meta(model.OutputSigmoid), inputs: []ort.InputOutputInfo{tensor("input.1", -1, 1, 32, 64)}, outputs: out1,
			want: `graph input is "input.1", metadata input_name is "image"`},
		{name: "input type", meta: meta(model.OutputSigmoid),
			inputs:  []ort.InputOutputInfo{{Name: "image", OrtValueType: ort.ONNXTypeTensor, DataType: ort.TensorElementDataTypeUint8, Dimensions: ort.Shape{-1, 1, 32, 64}}},
			outputs: out1, want: `input "image" has element type UINT8, want FP32`},
		{name: "input rank", meta: meta(model.OutputSigmoid), inputs: []ort.InputOutputInfo{tensor("image", -1, 32, 64)}, outputs: out1,
			want: `input "image" has shape [-1 32 64] (3 dims), want [N 1 32 64]`},
		{name: "fixed batch", meta: meta(model.OutputSigmoid), inputs: []ort.InputOutputInfo{tensor("image", 1, 1, 32, 64)}, outputs: out1,
			want: `batch dim 0 is fixed at 1, want dynamic`},
		{name: "channels", meta: meta(model.OutputSigmoid), inputs: []ort.InputOutputInfo{tensor("image", -1, 3, 32, 64)}, outputs: out1,
			want: `dim 1 (channels) is 3, preprocess.channels is 1`},
		{name: "height", meta: meta(model.OutputSigmoid), inputs: []ort.InputOutputInfo{tensor("image", -1, 1, 64, 64)}, outputs: out1,
			want: `dim 2 (height) is 64, preprocess.height is 32`},
		{name: "width", meta: meta(model.OutputSigmoid), inputs: []ort.InputOutputInfo{tensor("image", -1, 1, 32, 224)}, outputs: out1,
			want: `dim 3 (width) is 224, preprocess.width is 64`},
		{name: "no output", meta: meta(model.OutputSigmoid), inputs: in, outputs: []ort.InputOutputInfo{tensor("logits", -1, 1)},
			want: `graph has no output "prob" (metadata output_name); outputs: "logits"`},
		{name: "output type", meta: meta(model.OutputSigmoid), inputs: in,
			outputs: []ort.InputOutputInfo{{Name: "prob", OrtValueType: ort.ONNXTypeTensor, DataType: ort.TensorElementDataTypeDouble, Dimensions: ort.Shape{-1, 1}}},
			want:    `output "prob" has element type FP64, want FP32`},
		{name: "output not a tensor", meta: meta(model.OutputSigmoid), inputs: in,
			outputs: []ort.InputOutputInfo{{Name: "prob", OrtValueType: ort.ONNXTypeSequence}},
			want:    `output "prob" is a`},
		{name: "sigmoid with two units", meta: meta(model.OutputSigmoid), inputs: in, outputs: []ort.InputOutputInfo{tensor("prob", -1, 2)},
			want: `output "prob" has shape [-1 2], want [N 1] or [N] with dynamic N (output "sigmoid", 2 labels)`},
		{name: "softmax with one unit", meta: meta(model.OutputSoftmax), inputs: in, outputs: out1,
			want: `output "prob" has shape [-1 1], want [N 2] with dynamic N (output "softmax", 2 labels)`},
		{name: "softmax rank 1", meta: meta(model.OutputSoftmax), inputs: in, outputs: []ort.InputOutputInfo{tensor("prob", -1)},
			want: `output "prob" has shape [-1], want [N 2]`},
		{name: "output fixed batch", meta: meta(model.OutputSigmoid), inputs: in, outputs: []ort.InputOutputInfo{tensor("prob", 1, 1)},
			want: `output "prob" has shape [1 1]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, lay, err := checkSignature(tt.meta, tt.inputs, tt.outputs)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("checkSignature() = %v, want an error containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if lay.c != 1 || lay.h != 32 || lay.w != 64 || lay.units != tt.units {
				t.Errorf("layout = %+v", lay)
			}
			if len(sig.Inputs) != 1 || sig.Inputs[0].Datatype != "FP32" || len(sig.Outputs) != 1 || sig.Outputs[0].Name != "prob" {
				t.Errorf("signature = %+v", sig)
			}
		})
	}
}
