package onnxrt_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/healthcare-ai/platform/model"
	"github.com/healthcare-ai/platform/model/onnxrt"
)

func TestWithMetadataRethresholdsWithoutTouchingTheGraph(t *testing.T) {
	initRuntime(t)
	orig := testdata(t, "tiny-sigmoid.onnx")
	m0, err := onnxrt.Load(orig, onnxrt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m0.Close()
	md := m0.Metadata()
	md.Threshold = 0.97
	md.Version = md.Version + "-rethresholded"
	md.ThresholdRule = "set by hand for a test"
	out, err := model.WithMetadata(orig, md)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(out, orig) {
		t.Fatal("rewritten model is identical to the original")
	}
	m1, err := onnxrt.Load(out, onnxrt.Options{})
	if err != nil {
		t.Fatalf("rewritten model does not load: %v", err)
	}
	defer m1.Close()
	got := m1.Metadata()
	if got.Threshold != 0.97 || got.Version != md.Version || got.Name != md.Name {
		t.Fatalf("rewritten metadata %+v", got)
	}
	x, _ := image(3)
	p0, err := m0.PredictOne(t.Context(), x)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := m1.PredictOne(t.Context(), x)
	if err != nil {
		t.Fatal(err)
	}
	if p0 != p1 {
		t.Fatalf("probabilities differ after a metadata rewrite: %v vs %v", p0, p1)
	}
	if p1 < 0.97 && m1.Label(p1) != md.Labels[0] {
		t.Fatalf("label at p=%v with threshold 0.97: %s", p1, m1.Label(p1))
	}
	// Rewriting again replaces the entries instead of adding more.
	md.Threshold = 0.5
	again, err := model.WithMetadata(out, md)
	if err != nil {
		t.Fatal(err)
	}
	if d := len(again) - len(out); d > 4 || d < -4 {
		t.Fatalf("second rewrite changed the size by %d bytes: entries were duplicated", d)
	}
}

func TestWithMetadataErrors(t *testing.T) {
	initRuntime(t)
	orig := testdata(t, "tiny-sigmoid.onnx")
	m, err := onnxrt.Load(orig, onnxrt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	md := m.Metadata()
	bad := md
	bad.Threshold = 1.5
	if _, err := model.WithMetadata(orig, bad); err == nil {
		t.Fatal("accepted an invalid threshold")
	}
	if _, err := model.WithMetadata([]byte("\xff\xff\xff not protobuf"), md); err == nil {
		t.Fatal("accepted bytes that are not a model")
	}
	if _, err := model.WithMetadata([]byte{}, md); !errors.Is(err, model.ErrNoMetadata) {
		t.Fatalf("empty model: %v, want ErrNoMetadata", err)
	}
}
