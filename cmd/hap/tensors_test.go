package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/healthcare-ai/platform/xray/preprocess"
)

func TestNpyHeader(t *testing.T) {
	for _, tc := range []struct {
		descr string
		shape []int
		dict  string
	}{
		{"<f4", []int{3, 1, 64, 64}, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1, 64, 64), }"},
		{"|u1", []int{5}, "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }"},
		{"<f4", []int{0, 1, 8, 8}, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1, 8, 8), }"},
		{"<f4", []int{}, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"},
	} {
		h := npyHeader(tc.descr, tc.shape)
		if !bytes.HasPrefix(h, []byte("\x93NUMPY\x01\x00")) {
			t.Errorf("%v: magic/version % x", tc.shape, h[:8])
		}
		if len(h)%64 != 0 {
			t.Errorf("%v: header is %d bytes, want a multiple of 64", tc.shape, len(h))
		}
		if n := int(binary.LittleEndian.Uint16(h[8:10])); n != len(h)-10 {
			t.Errorf("%v: HEADER_LEN %d, want %d", tc.shape, n, len(h)-10)
		}
		if h[len(h)-1] != '\n' {
			t.Errorf("%v: header does not end with a newline", tc.shape)
		}
		body := string(h[10 : len(h)-1])
		if strings.TrimRight(body, " ") != tc.dict {
			t.Errorf("header dict %q, want %q", strings.TrimRight(body, " "), tc.dict)
		}
	}
	// numpy's own header for this array is exactly 128 bytes.
	if h := npyHeader("<f4", []int{3, 1, 64, 64}); len(h) != 128 {
		t.Errorf("header length %d, want 128", len(h))
	}
}

func TestAppendFloat32LE(t *testing.T) {
	b := appendFloat32LE(nil, []float32{1, -2.5, float32(math.Inf(1))})
	want := []byte{0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0, 0, 0, 0x80, 0x7f}
	if !bytes.Equal(b, want) {
		t.Errorf("% x, want % x", b, want)
	}
}

// tensorsTestData writes a tiny Kaggle layout and returns its root and the
// files that must be exported, by split, in order.
func tensorsTestData(t *testing.T) (string, map[string][]string) {
	t.Helper()
	root := t.TempDir()
	write := func(rel string, data []byte) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := func(w, h, seed int) *image.Gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range g.Pix {
			g.Pix[i] = uint8((i*seed + i/w*7) % 251)
		}
		return g
	}
	enc := func(g *image.Gray, isPNG bool) []byte {
		var b bytes.Buffer
		if isPNG {
			_ = png.Encode(&b, g)
		} else {
			_ = jpeg.Encode(&b, g, &jpeg.Options{Quality: 90})
		}
		return b.Bytes()
	}
	want := map[string][]string{}
	for si, split := range []string{"train", "val", "test"} {
		for li, label := range []string{"NORMAL", "PNEUMONIA"} {
			for k := range 3 - si {
				rel := fmt.Sprintf("%s/%s/img-%d.jpeg", split, label, k)
				isPNG := k == 1
				if isPNG {
					rel = strings.TrimSuffix(rel, ".jpeg") + ".png"
				}
				write(rel, enc(img(70+10*k, 90-5*li, 3+si+k), isPNG))
				want[split] = append(want[split], rel)
			}
		}
	}
	good := enc(img(80, 80, 1), false)
	write("train/NORMAL/zz-truncated.jpeg", good[:len(good)/2])
	write("train/NORMAL/.DS_Store", []byte("x"))
	return root, want
}

type tensorsNpyFile struct {
	descr string
	shape []int
	data  []byte
}

func tensorsReadNpy(t *testing.T, name string) tensorsNpyFile {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x93NUMPY\x01\x00")) {
		t.Fatalf("%s: not .npy v1.0", name)
	}
	n := int(binary.LittleEndian.Uint16(b[8:10]))
	dict := string(b[10 : 10+n])
	var f tensorsNpyFile
	if _, err := fmt.Sscanf(dict, "{'descr': '%3s', ", &f.descr); err != nil {
		t.Fatalf("%s: header %q: %v", name, dict, err)
	}
	shape := dict[strings.Index(dict, "(")+1 : strings.Index(dict, ")")]
	for _, s := range strings.Split(shape, ",") {
		if s = strings.TrimSpace(s); s != "" {
			var d int
			fmt.Sscan(s, &d)
			f.shape = append(f.shape, d)
		}
	}
	f.data = b[10+n:]
	return f
}

func TestRunTensors(t *testing.T) {
	root, want := tensorsTestData(t)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := runTensors(t.Context(), []string{"-data", root, "-out", out, "-size", "8", "-workers", "2"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("runTensors: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "reject train/NORMAL/zz-truncated.jpeg: corrupt: jpeg: no end-of-image marker") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	spec := preprocess.DefaultSpec(8)
	var manifest []string
	for _, split := range []string{"train", "val", "test"} {
		x := tensorsReadNpy(t, filepath.Join(out, split+"_x.npy"))
		y := tensorsReadNpy(t, filepath.Join(out, split+"_y.npy"))
		n := len(want[split])
		if x.descr != "<f4" || !slices.Equal(x.shape, []int{n, 1, 8, 8}) || len(x.data) != n*64*4 {
			t.Fatalf("%s x: %s %v, %d bytes", split, x.descr, x.shape, len(x.data))
		}
		if y.descr != "|u1" || !slices.Equal(y.shape, []int{n}) || len(y.data) != n {
			t.Fatalf("%s y: %s %v, %d bytes", split, y.descr, y.shape, len(y.data))
		}
		var idx tensorSplitIndex
		b, err := os.ReadFile(filepath.Join(out, split+"_index.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		if idx.N != n || idx.Spec != spec || len(idx.Items) != n || !slices.Equal(idx.Classes, []string{"NORMAL", "PNEUMONIA"}) {
			t.Fatalf("%s index: %+v", split, idx)
		}
		for i, rel := range want[split] {
			it := idx.Items[i]
			if it.Path != rel {
				t.Fatalf("%s row %d: %s, want %s", split, i, it.Path, rel)
			}
			wantLabel := 0
			if strings.Contains(rel, "PNEUMONIA") {
				wantLabel = 1
			}
			if int(y.data[i]) != wantLabel || it.Label != wantLabel {
				t.Errorf("%s row %d: label %d/%d, want %d", split, i, y.data[i], it.Label, wantLabel)
			}
			data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if it.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: sha256 %s", rel, it.SHA256)
			}
			manifest = append(manifest, rel+"\x00"+fmt.Sprintf("%x  %s\n", sum, rel))
			// The row is exactly what serving computes.
			res, err := spec.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range res.Tensor {
				got := math.Float32frombits(binary.LittleEndian.Uint32(x.data[(i*64+j)*4:]))
				if got != v {
					t.Fatalf("%s row %d value %d: %v, want %v", split, i, j, got, v)
				}
			}
		}
	}
	slices.Sort(manifest) // by path
	hs := sha256.New()
	for _, m := range manifest {
		_, line, _ := strings.Cut(m, "\x00")
		hs.Write([]byte(line))
	}
	h := hs.Sum(nil)
	var fp tensorFingerprint
	b, err := os.ReadFile(filepath.Join(out, "fingerprint.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fp); err != nil {
		t.Fatal(err)
	}
	if fp.DatasetSHA256 != hex.EncodeToString(h[:]) || fp.Files != 12 || fp.Spec != spec || len(fp.Rejects) != 1 || len(fp.Outputs) != 9 {
		t.Errorf("fingerprint: %s", b)
	}
	if !strings.Contains(stdout.String(), "train: 6 images") || !strings.Contains(stdout.String(), fp.DatasetSHA256) {
		t.Errorf("stdout:\n%s", stdout.String())
	}

	// Same input, one worker: byte-identical output.
	out2 := t.TempDir()
	if err := runTensors(t.Context(), []string{"-data", root, "-out", out2, "-size", "8", "-workers", "1"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 10 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("output files: %v (temporary files left behind?)", names)
	}
	for _, e := range entries {
		a, _ := os.ReadFile(filepath.Join(out, e.Name()))
		b, _ := os.ReadFile(filepath.Join(out2, e.Name()))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between runs", e.Name())
		}
	}

	// numpy reads the files, when it is installed.
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		script := `import numpy as np, sys
x = np.load(sys.argv[1] + "/train_x.npy"); y = np.load(sys.argv[1] + "/train_y.npy")
print(x.shape, x.dtype, y.shape, y.dtype, int(y.sum()), float(x.min()) >= 0.0, float(x.max()) <= 1.0)`
		cmd := exec.Command("/usr/bin/python3", "-c", script, out)
		b, err := cmd.CombinedOutput()
		switch {
		case err != nil && strings.Contains(string(b), "No module named 'numpy'"):
			t.Log("numpy not installed; skipped the numpy.load check")
		case err != nil:
			t.Errorf("numpy.load: %v\n%s", err, b)
		case strings.TrimSpace(string(b)) != "(6, 1, 8, 8) float32 (6,) uint8 3 True True":
			t.Errorf("numpy: %s", b)
		}
	}
}

func TestRunTensorsErrors(t *testing.T) {
	root, _ := tensorsTestData(t)
	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"-out", t.TempDir()}, true, "-data and -out are required"},
		{[]string{"-data", root, "-out", t.TempDir(), "-size", "0"}, true, "spec width 0"},
		{[]string{"-data", root, "-out", t.TempDir(), "-splits", "train,holdout"}, true, `split "holdout" has no images`},
		{[]string{"-data", root, "-out", t.TempDir(), "-bogus"}, true, "flag provided but not defined"},
		{[]string{"-data", root, "-out", t.TempDir(), "-strict"}, false, "1 files rejected (-strict)"},
		{[]string{"-data", t.TempDir(), "-out", t.TempDir()}, false, "needs the labelled Kaggle layout"},
	} {
		err := runTensors(t.Context(), tc.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, errUsage) != tc.usage {
			t.Errorf("%v: err = %v, want %q (usage %v)", tc.args, err, tc.want, tc.usage)
		}
	}
}

// TestRunTensorsSplits: a reject in a split that is not exported does not
// concern the export, even with -strict.
func TestRunTensorsSplits(t *testing.T) {
	root, want := tensorsTestData(t)
	out := t.TempDir()
	var stderr bytes.Buffer
	if err := runTensors(t.Context(), []string{"-data", root, "-out", out, "-width", "12", "-height", "10", "-splits", "test, val", "-strict"}, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
	x := tensorsReadNpy(t, filepath.Join(out, "test_x.npy"))
	if !slices.Equal(x.shape, []int{len(want["test"]), 1, 10, 12}) {
		t.Errorf("test_x shape %v", x.shape)
	}
	if _, err := os.Stat(filepath.Join(out, "train_x.npy")); !os.IsNotExist(err) {
		t.Errorf("train exported: %v", err)
	}
}

func TestRunDataset(t *testing.T) {
	root, _ := tensorsTestData(t)
	var stdout bytes.Buffer
	if err := runDataset(t.Context(), []string{"-data", root}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NORMAL  PNEUMONIA  total", "train       3          3      6", "total       6          6     12",
		"rejected (1):", "train/NORMAL/zz-truncated.jpeg: corrupt: jpeg: no end-of-image marker", "12 images, 1 rejected, 1 ignored"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	err := runDataset(t.Context(), []string{"-data", root, "-strict"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "1 files rejected") {
		t.Errorf("-strict: %v", err)
	}
	stdout.Reset()
	if err := runDataset(t.Context(), []string{"-data", root, "-json"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var report struct {
		Images int
		Counts []struct {
			Split, Label string
			N            int
		}
		Rejects []struct{ Path, Reason string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatal(err)
	}
	if report.Images != 12 || len(report.Counts) != 6 || report.Counts[1].Label != "PNEUMONIA" || report.Rejects[0].Reason != "corrupt" {
		t.Errorf("json report: %s", stdout.String())
	}
	if err := runDataset(t.Context(), nil, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
		t.Errorf("no -data: %v", err)
	}
	if err := runDataset(t.Context(), []string{"-h"}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}
