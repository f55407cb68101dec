package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/client"
	"github.com/healthcare-ai/platform/platform"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/xray/synth"
)

// startTestPlatform runs the platform in the test process on free ports and
// returns it with its HTTP base URL.
func startTestPlatform(t *testing.T, mutate ...func(*platform.Config)) (*platform.Platform, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the platform")
	}
	cfg := platform.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.NATSPort = -1
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ModelsDir = "../../models"
	cfg.SyncAlways = false
	cfg.TablesOff = true
	cfg.PatientSalt = "test-salt-0123456789abcdef"
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := platform.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return p, "http://" + p.HTTPAddr().String()
}

// synthImages writes n NORMAL and n PNEUMONIA test images in the Kaggle
// layout (small ones, to keep the tests quick) and returns the chest_xray
// folder.
func synthImages(t *testing.T, n int, dicom synth.DICOMMode) string {
	t.Helper()
	o := synth.DefaultOptions()
	o.Train, o.Val = synth.Counts{}, synth.Counts{}
	o.Test = synth.Counts{Normal: n, Pneumonia: n}
	o.MinSize, o.MaxSize = 520, 700
	o.Seed = 11
	o.DICOM = dicom
	res, err := synth.Generate(t.Context(), t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res.Root
}

// hap runs the command line in the test process.
func hap(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code = Main(ctx, args, &out, &errb)
	return out.String(), errb.String(), code
}

// writeCorrupt writes a JPEG whose data stops after its first third.
func writeCorrupt(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b[:len(b)/3], 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPredictCommand(t *testing.T) {
	_, url := startTestPlatform(t)
	root := synthImages(t, 2, synth.DICOMAlso)
	jpegs, _ := filepath.Glob(filepath.Join(root, "test", "*", "*.jpeg"))
	dcms, _ := filepath.Glob(filepath.Join(root, "test", "*", "*.dcm"))
	if len(jpegs) != 4 || len(dcms) != 4 {
		t.Fatalf("%d JPEG and %d DICOM files", len(jpegs), len(dcms))
	}

	// One file and one folder (4 JPEG + 4 DICOM): one line each, in order.
	stdout, stderr, code := hap(t, "predict", "-url", url, jpegs[0], filepath.Join(root, "test"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 9 {
		t.Fatalf("%d lines:\n%s", len(lines), stdout)
	}
	for i, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != 6 || f[1] == "" || !proto.ValidArm(f[2]) || !strings.Contains(f[3], "@") || !proto.ValidLabel(f[4]) {
			t.Fatalf("line %d: %q", i, l)
		}
	}
	if !strings.HasPrefix(lines[0], jpegs[0]+"\t") || !strings.HasSuffix(strings.Split(lines[1], "\t")[0], ".dcm") {
		t.Errorf("order: %q, %q", lines[0], lines[1])
	}

	// A corrupt file: the others are still predicted, then exit 1.
	bad := filepath.Join(t.TempDir(), "broken.jpeg")
	writeCorrupt(t, jpegs[1], bad)
	stdout, stderr, code = hap(t, "predict", "-url", url, "-json", "-concurrency", "2", jpegs[1], bad, dcms[2])
	if code != 1 || !strings.Contains(stderr, "1 of 3 images failed") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	rows := map[string]predictionRow{}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var r predictionRow
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		rows[r.File] = r
	}
	if len(rows) != 3 {
		t.Fatalf("%d JSON lines: %s", len(rows), stdout)
	}
	if r := rows[bad]; r.ErrorType != client.ProblemUndecodable || r.Probability != nil || r.RequestID == "" {
		t.Errorf("corrupt file: %+v", r)
	}
	if r := rows[dcms[2]]; r.Error != "" || r.Probability == nil || r.DatasetLabel == "" || r.DatasetSplit != "test" {
		t.Errorf("DICOM file: %+v", r)
	}

	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"predict", "-h"}, 0},
		{[]string{"predict", "-url", url}, 2},
		{[]string{"predict", "-url", "localhost:1", jpegs[0]}, 2},
		{[]string{"predict", "-url", url, filepath.Join(t.TempDir(), "missing.jpeg")}, 1},
		{[]string{"predict", "-url", url, t.TempDir()}, 1}, // no images
	} {
		if _, stderr, code := hap(t, tc.args...); code != tc.code {
			t.Errorf("hap %s: exit %d, want %d: %s", strings.Join(tc.args, " "), code, tc.code, stderr)
		}
	}
}

func TestBatchPredict(t *testing.T) {
	_, url := startTestPlatform(t)
	root := synthImages(t, 20, synth.DICOMOff)
	normal, _ := filepath.Glob(filepath.Join(root, "test", "NORMAL", "*.jpeg"))
	writeCorrupt(t, normal[0], filepath.Join(root, "test", "NORMAL", "corrupt.jpeg"))
	if err := os.WriteFile(filepath.Join(root, "test", "NORMAL", "readme.txt"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	const images = 41 // 40 generated + 1 corrupt; readme.txt and manifest.json are not images
	dir := t.TempDir()

	// check checks the rows; file names are relative to -in, so they start
	// with prefix.
	check := func(t *testing.T, rows []predictionRow, prefix string) {
		t.Helper()
		if len(rows) != images {
			t.Fatalf("%d rows, want %d", len(rows), images)
		}
		seen := map[string]bool{}
		for _, r := range rows {
			seen[r.File] = true
			if label := path.Base(path.Dir(r.File)); r.DatasetLabel != label || r.DatasetSplit != "test" || !strings.HasPrefix(r.File, prefix) {
				t.Errorf("%s: dataset label %q split %q", r.File, r.DatasetLabel, r.DatasetSplit)
			}
			if r.File == prefix+"NORMAL/corrupt.jpeg" {
				if r.Error == "" || r.ErrorType != client.ProblemUndecodable || r.Probability != nil || r.Label != "" {
					t.Errorf("corrupt file row %+v", r)
				}
				continue
			}
			if r.Error != "" || r.RequestID == "" || !proto.ValidArm(r.Arm) || r.ModelName == "" || r.ModelVersion == "" ||
				!proto.ValidLabel(r.Label) || r.Probability == nil || r.Threshold == nil || r.LatencyMS == nil || *r.LatencyMS <= 0 {
				t.Errorf("row %+v", r)
			}
		}
		if len(seen) != images {
			t.Errorf("%d distinct files", len(seen))
		}
	}

	t.Run("Parquet", func(t *testing.T) {
		out := filepath.Join(dir, "results.parquet")
		stdout, stderr, code := hap(t, "batch-predict", "-url", url, "-in", root, "-out", out, "-concurrency", "4")
		t.Logf("hap batch-predict -concurrency 4:\n%s", stdout)
		if code != 1 || !strings.Contains(stderr, "1 of 41 images failed") {
			t.Fatalf("exit %d (want 1: one corrupt image), stderr %s", code, stderr)
		}
		if !strings.Contains(stdout, "41 images in") || !strings.Contains(stdout, "images/s with concurrency 4; 40 predicted, 1 failed") {
			t.Errorf("summary %q", stdout)
		}
		rows, err := parquet.ReadFile[predictionRow](out)
		if err != nil {
			t.Fatal(err)
		}
		check(t, rows, "test/")
		if _, err := os.Stat(out + ".partial"); !os.IsNotExist(err) {
			t.Errorf("partial file left: %v", err)
		}
	})

	t.Run("CSV", func(t *testing.T) {
		out := filepath.Join(dir, "results.csv")
		stdout, stderr, code := hap(t, "batch-predict", "-url", url, "-in", filepath.Join(root, "test"), "-out", out, "-concurrency", "8", "-json")
		if code != 1 {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		var sum batchSummary
		if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
			t.Fatalf("%q: %v", stdout, err)
		}
		t.Logf("hap batch-predict -concurrency 8: %.1f images/s", sum.PerSecond)
		if !sum.Complete || sum.Images != images || sum.Predicted != images-1 || sum.Failed != 1 || sum.Labelled != images-1 ||
			sum.Arms[proto.ArmChampion]+sum.Arms[proto.ArmChallenger] != images-1 || sum.PerSecond <= 0 {
			t.Errorf("summary %+v", sum)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := csv.NewReader(bufio.NewReader(f)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(recs[0], ",") != strings.Join(csvHeader, ",") {
			t.Fatalf("header %v", recs[0])
		}
		var rows []predictionRow
		for _, rec := range recs[1:] {
			r := predictionRow{File: rec[0], DatasetLabel: rec[1], DatasetSplit: rec[2], RequestID: rec[3], Arm: rec[4], ModelName: rec[5],
				ModelVersion: rec[6], Label: rec[7], Error: rec[11], ErrorType: rec[12]}
			for i, p := range []**float64{&r.Probability, &r.Threshold, &r.LatencyMS} {
				if s := rec[8+i]; s != "" {
					var v float64
					if _, err := fmt.Sscan(s, &v); err != nil {
						t.Fatalf("%s: column %s %q", r.File, csvHeader[8+i], s)
					}
					*p = &v
				}
			}
			rows = append(rows, r)
		}
		check(t, rows, "") // -in is the split folder
	})

	t.Run("FailFast", func(t *testing.T) {
		bad := t.TempDir()
		writeCorrupt(t, normal[1], filepath.Join(bad, "a.jpeg"))
		writeCorrupt(t, normal[2], filepath.Join(bad, "b.jpeg"))
		out := filepath.Join(dir, "ff.parquet")
		_, stderr, code := hap(t, "batch-predict", "-url", url, "-in", bad, "-out", out, "-fail-fast", "-concurrency", "1")
		if code != 1 || !strings.Contains(stderr, "-fail-fast") {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		rows, err := parquet.ReadFile[predictionRow](out)
		if err != nil || len(rows) != 1 || rows[0].File != "a.jpeg" || rows[0].Error == "" {
			t.Fatalf("rows %+v, %v", rows, err)
		}
	})

	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"-h"}, 0},
		{[]string{"-in", root}, 2},
		{[]string{"-in", root, "-out", filepath.Join(dir, "x.json")}, 2},
		{[]string{"-in", root, "-out", filepath.Join(dir, "x.csv"), "-concurrency", "0"}, 2},
		{[]string{"-in", filepath.Join(dir, "missing"), "-out", filepath.Join(dir, "x.csv")}, 1},
	} {
		args := append([]string{"batch-predict", "-url", url}, tc.args...)
		if _, stderr, code := hap(t, args...); code != tc.code {
			t.Errorf("hap %s: exit %d, want %d: %s", strings.Join(args, " "), code, tc.code, stderr)
		}
	}
}

func TestFeedbackCommand(t *testing.T) {
	_, url := startTestPlatform(t)
	root := synthImages(t, 1, synth.DICOMOff)
	c, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(firstMatch(t, filepath.Join(root, "test", "PNEUMONIA", "*.jpeg")))
	if err != nil {
		t.Fatal(err)
	}
	pr, err := c.Predict(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := hap(t, "feedback", "-url", url, "-request", pr.RequestID, "-truth", "pneumonia", "-radiologist", "DR001",
		"-confidence", "0.8", "-notes", "right lower lobe", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rec client.FeedbackReceipt
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil || rec.RequestID != pr.RequestID || rec.GroundTruth != proto.LabelPneumonia {
		t.Fatalf("receipt %q: %v", stdout, err)
	}
	// The same verdict again counts once.
	typ := "true-positive"
	if pr.Label == proto.LabelNormal {
		typ = "false-negative"
	}
	stdout, stderr, code = hap(t, "feedback", "-url", url, "-request", pr.RequestID, "-type", typ, "-radiologist", "DR002")
	if code != 0 || !strings.Contains(stdout, "for request "+pr.RequestID+": ground truth PNEUMONIA") {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	// The metrics reflect it: the prediction is labelled.
	bustest.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		snap, err := c.Metrics(t.Context(), "pneumonia")
		if err != nil {
			return err
		}
		for _, m := range snap.Models {
			if m.Arm == pr.Arm && m.Feedback == 1 && m.Predictions == 1 {
				return nil
			}
		}
		return fmt.Errorf("metrics %+v", snap.Models)
	})

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-h"}, 0, ""},
		{[]string{"-type", "true-positive", "-radiologist", "DR1"}, 2, "-request is required"},
		{[]string{"-request", "r1", "-radiologist", "DR1"}, 2, "-type or -truth is required"},
		{[]string{"-request", "r1", "-type", "maybe", "-radiologist", "DR1"}, 2, `feedback_type "maybe"`},
		{[]string{"-request", "r1", "-type", "true-positive", "-truth", "NORMAL", "-radiologist", "DR1"}, 2, "contradicts"},
		{[]string{"-request", "r1", "-truth", "unsure", "-radiologist", "DR1"}, 2, "must be NORMAL or PNEUMONIA"},
		{[]string{"-request", "r1", "-type", "true-positive"}, 2, "-radiologist is required"},
		{[]string{"-request", "r1", "-type", "true-positive", "-radiologist", "DR1", "-confidence", "2"}, 2, "from 0 to 1"},
		// Rejected by the server: a problem naming the field, exit 1.
		{[]string{"-request", strings.Repeat("r", 201), "-type", "true-positive", "-radiologist", "DR1"}, 1, "request_id"},
	} {
		args := append([]string{"feedback", "-url", url}, tc.args...)
		if _, stderr, code := hap(t, args...); code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("hap %s: exit %d, want %d with %q: %s", strings.Join(tc.args, " "), code, tc.code, tc.msg, stderr)
		}
	}
}

func TestTailCommand(t *testing.T) {
	p, url := startTestPlatform(t)
	root := synthImages(t, 1, synth.DICOMOff)
	c, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(firstMatch(t, filepath.Join(root, "test", "NORMAL", "*.jpeg")))
	if err != nil {
		t.Fatal(err)
	}
	pr, err := c.Predict(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	nats := p.NATSURL()

	// The evaluator publishes a snapshot for the prediction; tail prints the
	// latest one first.
	stdout, stderr, code := hap(t, "tail", "metrics", "-nats", nats, "-n", "1", "-timeout", "30s")
	if code != 0 {
		t.Fatalf("tail metrics: exit %d: %s", code, stderr)
	}
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) != 1 || !strings.Contains(lines[0], " pneumonia mode=split split=") ||
		!strings.Contains(lines[0], "| "+pr.Arm+" "+pr.Model()) {
		t.Fatalf("tail metrics: %q", stdout)
	}
	stdout, stderr, code = hap(t, "tail", "metrics", "-nats", nats, "-n", "1", "-json", "-experiment", "*", "-timeout", "30s")
	var snap proto.MetricsSnapshot
	if code != 0 || proto.Decode([]byte(stdout), &snap) != nil || snap.Experiment != "pneumonia" {
		t.Fatalf("tail metrics -json: exit %d: %q %s", code, stdout, stderr)
	}

	// The rollout controller's first look at the epoch is a KEEP_TESTING
	// decision on the DECISIONS stream.
	stdout, stderr, code = hap(t, "tail", "decisions", "-nats", nats, "-n", "1", "-json", "-timeout", "30s")
	var d proto.DecisionEvent
	if code != 0 || proto.Decode([]byte(stdout), &d) != nil || d.Experiment != "pneumonia" || d.Action == "" {
		t.Fatalf("tail decisions: exit %d: %q %s", code, stdout, stderr)
	}
	stdout, stderr, code = hap(t, "tail", "decisions", "-nats", nats, "-n", "1", "-timeout", "30s")
	if code != 0 || !strings.Contains(stdout, " pneumonia epoch=") || !strings.Contains(stdout, d.Action) {
		t.Fatalf("tail decisions: exit %d: %q %s", code, stdout, stderr)
	}

	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"tail"}, 2},
		{[]string{"tail", "-h"}, 0},
		{[]string{"tail", "metrics", "-h"}, 0},
		{[]string{"tail", "logs"}, 2},
		{[]string{"tail", "metrics", "-experiment", "a.b"}, 2},
		// Nothing for this experiment: -n 1 cannot be met in time.
		{[]string{"tail", "decisions", "-nats", nats, "-experiment", "other", "-n", "1", "-timeout", "300ms"}, 1},
	} {
		if _, stderr, code := hap(t, tc.args...); code != tc.code {
			t.Errorf("hap %s: exit %d, want %d: %s", strings.Join(tc.args, " "), code, tc.code, stderr)
		}
	}
}

func firstMatch(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) == 0 {
		t.Fatalf("no file matches %s", pattern)
	}
	return m[0]
}
