package model_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/healthcare-ai/platform/model"
)

func TestWithPropertyKeepsEverythingElse(t *testing.T) {
	onnx, err := os.ReadFile("testdata/tiny-sigmoid.onnx")
	if err != nil {
		t.Fatal(err)
	}
	before, err := model.Properties(onnx)
	if err != nil || before[model.MetadataKey] == "" {
		t.Fatalf("properties %v, %v", before, err)
	}
	once, err := model.WithProperty(onnx, "hap.test", "one")
	if err != nil {
		t.Fatal(err)
	}
	twice, err := model.WithProperty(once, "hap.test", "two")
	if err != nil {
		t.Fatal(err)
	}
	after, err := model.Properties(twice)
	if err != nil {
		t.Fatal(err)
	}
	if after["hap.test"] != "two" || len(after) != len(before)+1 {
		t.Errorf("after two writes: %d properties, hap.test %q", len(after), after["hap.test"])
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("property %s changed", k)
		}
	}
	// The only difference with the original is the appended entry.
	if !bytes.HasPrefix(twice, onnx) {
		t.Errorf("the original bytes are not kept as a prefix")
	}
	// WithMetadata keeps the property.
	md, err := model.ParseMetadata(after)
	if err != nil {
		t.Fatal(err)
	}
	md.Threshold = 0.3
	re, err := model.WithMetadata(twice, md)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := model.Properties(re); p["hap.test"] != "two" {
		t.Errorf("WithMetadata dropped the property")
	}
	if _, err := model.WithProperty(onnx, model.MetadataKey, "{}"); err == nil {
		t.Error("WithProperty overwrote hap.metadata")
	}
	if _, err := model.Properties([]byte{0xff, 0xff}); err == nil {
		t.Error("Properties of garbage: no error")
	}
}
