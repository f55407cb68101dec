package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/router"
)

func TestModelsCommand(t *testing.T) {
	env := bustest.Start(t)
	ctx := t.Context()
	kv, err := router.OpenExperiments(ctx, env.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := router.EnsureExperiment(ctx, kv, proto.Experiment{Name: "pneumonia", Mode: proto.ModeSplit, Split: proto.Split{Champion: 50, Challenger: 50}, UpdatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		t.Helper()
		var out, errb bytes.Buffer
		args = append([]string{"models", args[0], "-nats", env.URL, "-by", "ml.eng"}, args[1:]...)
		code := Main(context.Background(), args, &out, &errb)
		if code != 0 {
			return out.String(), &cmdError{code: code, stderr: errb.String()}
		}
		return out.String(), nil
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("hap models %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	out := must("register", "-file", "../../models/pneumonia-simplecnn.onnx")
	if !strings.Contains(out, "registered pneumonia-simplecnn@1 (release 1.0.0") {
		t.Fatalf("register: %s", out)
	}
	must("register", "-file", "../../models/pneumonia-resnet.onnx")
	out = must("alias", "-alias", "champion", "-model", "pneumonia-simplecnn@1")
	if !strings.Contains(out, "alias champion -> pneumonia-simplecnn@1") || !strings.Contains(out, "epoch 1 starts") {
		t.Fatalf("alias: %s", out)
	}
	must("alias", "-alias", "challenger", "-model", "models:/pneumonia-resnet/1")
	out = must("resolve", "models:/pneumonia@champion")
	if !strings.Contains(out, `"name": "pneumonia-simplecnn"`) {
		t.Fatalf("resolve: %s", out)
	}
	out = must("rethreshold", "-model", "models:/pneumonia@champion", "-threshold", "0.4")
	if !strings.Contains(out, "registered pneumonia-simplecnn@2") || !strings.Contains(out, "threshold 0.4 (was 0.5") {
		t.Fatalf("rethreshold: %s", out)
	}
	out = must("describe", "-model", "models:/pneumonia@challenger")
	if !strings.Contains(out, `"aliases": [`) || !strings.Contains(out, `"challenger"`) || !strings.Contains(out, `"threshold"`) {
		t.Fatalf("describe: %s", out)
	}
	// A corrupt file is refused with the reason.
	bad := t.TempDir() + "/corrupt.onnx"
	if err := os.WriteFile(bad, []byte("not an onnx model"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run("register", "-file", bad); err == nil {
		t.Fatal("a corrupt ONNX file was registered")
	}
	out = must("ls")
	for _, w := range []string{"pneumonia-simplecnn  1        active  champion", "pneumonia-resnet     1        active  challenger", "pneumonia-simplecnn  2        active"} {
		if !strings.Contains(out, w) {
			t.Errorf("ls lacks %q:\n%s", w, out)
		}
	}
	// Archiving an aliased version is refused with a clear reason.
	if _, err := run("archive", "-model", "pneumonia-simplecnn@1"); err == nil || !strings.Contains(err.Error(), "alias champion points at it") {
		t.Fatalf("archive of the champion: %v", err)
	}
	must("archive", "-model", "pneumonia-simplecnn@2")
	if _, err := run("alias", "-alias", "challenger", "-model", "pneumonia-simplecnn@2"); err == nil || !strings.Contains(err.Error(), "archived") {
		t.Fatalf("alias to an archived version: %v", err)
	}
	if _, err := run("resolve", "models:/pneumonia-resnet/x"); err == nil || !strings.Contains(err.Error(), "positive number") {
		t.Fatalf("bad version: %v", err)
	}
	if _, err := run("nope"); err == nil {
		t.Fatal("unknown subcommand accepted")
	}
}

type cmdError struct {
	code   int
	stderr string
}

func (e *cmdError) Error() string { return e.stderr }
