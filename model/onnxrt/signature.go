package onnxrt

import (
	"fmt"
	"slices"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/healthcare-ai/platform/model"
)

// TensorInfo describes one input or output tensor of a model in the terms of
// the Open Inference Protocol (KServe v2) model metadata.
type TensorInfo struct {
	Name string `json:"name"`
	// Datatype is the Open Inference Protocol tensor data type: "FP32", "INT64", ...
	Datatype string `json:"datatype"`
	// Shape as declared by the graph; -1 marks a dynamic dimension (the batch).
	Shape []int64 `json:"shape"`
}

// Signature lists the tensors a Model reads and writes: the graph's single
// input and the output named by the metadata (other graph outputs are not
// computed and not listed).
type Signature struct {
	Inputs  []TensorInfo `json:"inputs"`
	Outputs []TensorInfo `json:"outputs"`
}

func (s Signature) clone() Signature {
	c := func(ts []TensorInfo) []TensorInfo {
		out := slices.Clone(ts)
		for i := range out {
			out[i].Shape = slices.Clone(out[i].Shape)
		}
		return out
	}
	return Signature{Inputs: c(s.Inputs), Outputs: c(s.Outputs)}
}

// layout is what checkSignature derives for running the model.
type layout struct {
	c, h, w int64 // input dims fed to the model
	units   int   // output values per item
	outRank int   // 1 ([N]) or 2 ([N, units])
}

// checkSignature checks that the graph's inputs and outputs agree with the
// metadata: one input named InputName, a float32 NCHW tensor with a dynamic
// batch and C, H, W equal to the preprocess spec (or dynamic), and a float32
// output named OutputName of shape [N, units] (or [N] for one unit) where
// units follows the output kind.
func checkSignature(meta model.Metadata, inputs, outputs []ort.InputOutputInfo) (Signature, layout, error) {
	var lay layout
	p := meta.Preprocess
	if p.Layout != "NCHW" {
		return Signature{}, lay, fmt.Errorf("preprocess.layout %q: only NCHW is supported", p.Layout)
	}
	if len(inputs) != 1 {
		return Signature{}, lay, fmt.Errorf("graph has %d inputs (%s), want exactly one, %q", len(inputs), names(inputs), meta.InputName)
	}
	in := inputs[0]
	if in.Name != meta.InputName {
		return Signature{}, lay, fmt.Errorf("graph input is %q, metadata input_name is %q", in.Name, meta.InputName)
	}
	if err := checkFloatTensor("input", in); err != nil {
		return Signature{}, lay, err
	}
	d := in.Dimensions
	want := []int64{-1, int64(p.Channels), int64(p.Height), int64(p.Width)}
	wantText := fmt.Sprintf("[N %d %d %d] (NCHW from preprocess channels, height, width)", p.Channels, p.Height, p.Width)
	if len(d) != 4 {
		return Signature{}, lay, fmt.Errorf("input %q has shape %v (%d dims), want %s", in.Name, []int64(d), len(d), wantText)
	}
	if d[0] != -1 {
		return Signature{}, lay, fmt.Errorf("input %q has shape %v: batch dim 0 is fixed at %d, want dynamic (export with dynamic_axes on dim 0)", in.Name, []int64(d), d[0])
	}
	for i, dimName := range []string{1: "channels", 2: "height", 3: "width"} {
		if i == 0 || d[i] == -1 || d[i] == want[i] {
			continue
		}
		return Signature{}, lay, fmt.Errorf("input %q has shape %v, want %s: dim %d (%s) is %d, preprocess.%s is %d",
			in.Name, []int64(d), wantText, i, dimName, d[i], dimName, want[i])
	}
	lay.c, lay.h, lay.w = want[1], want[2], want[3]

	i := slices.IndexFunc(outputs, func(o ort.InputOutputInfo) bool { return o.Name == meta.OutputName })
	if i < 0 {
		return Signature{}, lay, fmt.Errorf("graph has no output %q (metadata output_name); outputs: %s", meta.OutputName, names(outputs))
	}
	out := outputs[i]
	if err := checkFloatTensor("output", out); err != nil {
		return Signature{}, lay, err
	}
	units := meta.Output.Units(len(meta.Labels))
	od := out.Dimensions
	switch {
	case len(od) == 2 && od[0] == -1 && (od[1] == int64(units) || od[1] == -1):
	case len(od) == 1 && od[0] == -1 && units == 1:
	default:
		shape := fmt.Sprintf("[N %d]", units)
		if units == 1 {
			shape += " or [N]"
		}
		return Signature{}, lay, fmt.Errorf("output %q has shape %v, want %s with dynamic N (output %q, %d labels)",
			out.Name, []int64(od), shape, meta.Output, len(meta.Labels))
	}
	lay.units, lay.outRank = units, len(od)

	sig := Signature{
		Inputs:  []TensorInfo{{Name: in.Name, Datatype: datatype(in.DataType), Shape: slices.Clone(d)}},
		Outputs: []TensorInfo{{Name: out.Name, Datatype: datatype(out.DataType), Shape: slices.Clone(od)}},
	}
	return sig, lay, nil
}

func checkFloatTensor(kind string, t ort.InputOutputInfo) error {
	if t.OrtValueType != ort.ONNXTypeTensor {
		return fmt.Errorf("%s %q is a %s, want a tensor", kind, t.Name, t.OrtValueType)
	}
	if t.DataType != ort.TensorElementDataTypeFloat {
		return fmt.Errorf("%s %q has element type %s, want FP32 (float32)", kind, t.Name, datatype(t.DataType))
	}
	return nil
}

func names(ts []ort.InputOutputInfo) string {
	if len(ts) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", t.Name)
	}
	return b.String()
}

// datatype returns the Open Inference Protocol name of an ONNX element type.
func datatype(t ort.TensorElementDataType) string {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return "FP32"
	case ort.TensorElementDataTypeDouble:
		return "FP64"
	case ort.TensorElementDataTypeFloat16:
		return "FP16"
	case ort.TensorElementDataTypeBFloat16:
		return "BF16"
	case ort.TensorElementDataTypeInt8:
		return "INT8"
	case ort.TensorElementDataTypeInt16:
		return "INT16"
	case ort.TensorElementDataTypeInt32:
		return "INT32"
	case ort.TensorElementDataTypeInt64:
		return "INT64"
	case ort.TensorElementDataTypeUint8:
		return "UINT8"
	case ort.TensorElementDataTypeUint16:
		return "UINT16"
	case ort.TensorElementDataTypeUint32:
		return "UINT32"
	case ort.TensorElementDataTypeUint64:
		return "UINT64"
	case ort.TensorElementDataTypeBool:
		return "BOOL"
	case ort.TensorElementDataTypeString:
		return "BYTES"
	}
	return t.String()
}
