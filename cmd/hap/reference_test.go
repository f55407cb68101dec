package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/healthcare-ai/platform/driftstat"
	"github.com/healthcare-ai/platform/model"
)

// TestModelsReference computes a (tiny) reference for a copy of the
// champion and checks that it lands in the ONNX file, that nothing else of
// the file changes and that the card follows the new size and sha256.
func TestModelsReference(t *testing.T) {
	dir := t.TempDir()
	orig, err := os.ReadFile("../../models/pneumonia-simplecnn.onnx")
	if err != nil {
		t.Fatal(err)
	}
	props, err := model.Properties(orig)
	if err != nil {
		t.Fatal(err)
	}
	// Start from the file with an empty reference (the committed one blanked).
	bare := orig
	if _, ok := props[driftstat.PropertyKey]; ok {
		bare, err = model.WithProperty(orig, driftstat.PropertyKey, "")
		if err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(path, bare, 0o644); err != nil {
		t.Fatal(err)
	}
	card := `{"file": {"bytes": ` + itoa(len(bare)) + `, "sha256": "` + sha(bare) + `"}}`
	if err := os.WriteFile(filepath.Join(dir, "m.card.json"), []byte(card), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"models", "reference", "-n", "4", "-write", path}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "4 images in") || !strings.Contains(out.String(), "updated m.card.json") {
		t.Errorf("output: %s", out.String())
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := referenceIn(got)
	if err != nil || ref.Images != 4 || ref.Model != "pneumonia-simplecnn" {
		t.Fatalf("stored reference %+v, %v", ref, err)
	}
	gotProps, _ := model.Properties(got)
	bareProps, _ := model.Properties(bare)
	for k, v := range bareProps {
		if k != driftstat.PropertyKey && gotProps[k] != v {
			t.Errorf("property %s changed", k)
		}
	}
	newCard, _ := os.ReadFile(filepath.Join(dir, "m.card.json"))
	if !strings.Contains(string(newCard), sha(got)) || !strings.Contains(string(newCard), `"bytes": `+itoa(len(got))+",") {
		t.Errorf("card not updated: %s", newCard)
	}
	if code := Main(context.Background(), []string{"models", "reference", "-n", "1", path}, &out, &errb); code != 2 {
		t.Errorf("-n 1: exit %d, want 2", code)
	}
}

func referenceIn(onnx []byte) (*driftstat.Reference, error) {
	props, err := model.Properties(onnx)
	if err != nil {
		return nil, err
	}
	return driftstat.DecodeReference([]byte(props[driftstat.PropertyKey]))
}

func itoa(n int) string { return strconv.Itoa(n) }

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
