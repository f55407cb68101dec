package models_test

import (
	"os"
	"strings"
	"testing"

	"github.com/healthcare-ai/platform/driftstat"
	"github.com/healthcare-ai/platform/model"
)

// TestModelsCarryDriftReferences checks that each committed model carries
// its drift reference (written by `hap models reference -write`) in its ONNX
// metadata_props, for this model and preprocessing.
func TestModelsCarryDriftReferences(t *testing.T) {
	for _, f := range modelFiles(t) {
		name := strings.TrimSuffix(f, ".onnx")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			props, err := model.Properties(data)
			if err != nil {
				t.Fatal(err)
			}
			raw, ok := props[driftstat.PropertyKey]
			if !ok {
				t.Fatalf("no %s (run: hap models reference -write %s)", driftstat.PropertyKey, f)
			}
			ref, err := driftstat.DecodeReference([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			md, err := model.ParseMetadata(props)
			if err != nil {
				t.Fatal(err)
			}
			p := md.Preprocess
			lo, hi := driftstat.Range(p.Scale, p.Mean, p.Std)
			if ref.Model != md.Name || ref.ModelVersion != md.Version || ref.Lo != lo || ref.Hi != hi || ref.Threshold != md.Threshold {
				t.Errorf("reference of %s %s range [%v, %v] threshold %v; model %s %s range [%v, %v] threshold %v",
					ref.Model, ref.ModelVersion, ref.Lo, ref.Hi, ref.Threshold, md.Name, md.Version, lo, hi, md.Threshold)
			}
			if ref.Images < 500 || len(raw) > 64<<10 {
				t.Errorf("reference on %d images, %d bytes: want at least 500 images in at most 64 KiB", ref.Images, len(raw))
			}
			t.Logf("%d images, positive rate %.3f, computed in %.0f s", ref.Images, ref.PositiveRate, ref.ComputeSeconds)
		})
	}
}
