package dataset_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthcare-ai/platform/xray/dataset"
	"github.com/healthcare-ai/platform/xray/preprocess"
)

func grayImage(w, h int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			g.Pix[y*w+x] = uint8((x*3 + y*5) % 256)
		}
	}
	return g
}

func jpegBytes(tb testing.TB, w, h int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, grayImage(w, h), &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func pngBytes(tb testing.TB, w, h int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, grayImage(w, h)); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// writeFiles creates files under root; keys are slash-separated paths.
func writeFiles(tb testing.TB, root string, files map[string][]byte) {
	tb.Helper()
	for rel, data := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

func kaggleFiles(tb testing.TB) map[string][]byte {
	good := jpegBytes(tb, 80, 64)
	return map[string][]byte{
		"train/NORMAL/IM-0001.jpeg":          good,
		"train/NORMAL/IM-0002.jpeg":          jpegBytes(tb, 100, 90),
		"train/PNEUMONIA/person1_virus.jpeg": good,
		"train/PNEUMONIA/person2_bact.png":   pngBytes(tb, 70, 50),
		"train/PNEUMONIA/person3.JPG":        good,
		"val/NORMAL/a.jpeg":                  good,
		"val/PNEUMONIA/b.jpeg":               good,
		"test/NORMAL/c.jpeg":                 good,
		"test/PNEUMONIA/d.jpeg":              good,
		"test/PNEUMONIA/e.jpeg":              good,
		"train/NORMAL/.DS_Store":             []byte("\x00\x00\x00\x01Bud1"),
		".DS_Store":                          []byte("x"),
	}
}

func TestLoadKaggle(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, kaggleFiles(t))
	ds, err := dataset.Load(t.Context(), root, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Layout != dataset.LayoutKaggle || ds.Root != root {
		t.Errorf("layout %s root %s", ds.Layout, ds.Root)
	}
	if len(ds.Rejects) != 0 {
		t.Errorf("rejects: %v", ds.Rejects)
	}
	if got := strings.Join(ds.Ignored, ","); got != ".DS_Store,train/NORMAL/.DS_Store" {
		t.Errorf("ignored %s", got)
	}
	var rels []string
	for _, it := range ds.Items {
		rels = append(rels, it.Rel)
	}
	want := []string{
		"train/NORMAL/IM-0001.jpeg", "train/NORMAL/IM-0002.jpeg", "train/PNEUMONIA/person1_virus.jpeg",
		"train/PNEUMONIA/person2_bact.png", "train/PNEUMONIA/person3.JPG",
		"val/NORMAL/a.jpeg", "val/PNEUMONIA/b.jpeg",
		"test/NORMAL/c.jpeg", "test/PNEUMONIA/d.jpeg", "test/PNEUMONIA/e.jpeg",
	}
	if strings.Join(rels, "\n") != strings.Join(want, "\n") {
		t.Errorf("order:\n%s\nwant\n%s", strings.Join(rels, "\n"), strings.Join(want, "\n"))
	}
	png := ds.Items[3]
	if png.Format != preprocess.PNG || png.Width != 70 || png.Height != 50 || png.Label != dataset.Pneumonia || png.Split != dataset.Train ||
		png.Size != int64(len(pngBytes(t, 70, 50))) || png.Path != filepath.Join(root, "train", "PNEUMONIA", "person2_bact.png") {
		t.Errorf("png item %+v", png)
	}
	counts := ds.Counts()
	wantCounts := []dataset.Count{
		{"train", dataset.Normal, 2}, {"train", dataset.Pneumonia, 3},
		{"val", dataset.Normal, 1}, {"val", dataset.Pneumonia, 1},
		{"test", dataset.Normal, 1}, {"test", dataset.Pneumonia, 2},
	}
	if len(counts) != len(wantCounts) {
		t.Fatalf("counts %v", counts)
	}
	for i := range counts {
		if counts[i] != wantCounts[i] {
			t.Errorf("counts[%d] = %v, want %v", i, counts[i], wantCounts[i])
		}
	}
	wantTable := `split  NORMAL  PNEUMONIA  total
train       2          3      5
  val       1          1      2
 test       1          2      3
total       4          6     10
`
	var b strings.Builder
	if err := ds.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if got := trimLines(b.String()); got != trimLines(wantTable) {
		t.Errorf("table:\n%s\nwant\n%s", b.String(), wantTable)
	}
	if n := len(ds.Split(dataset.Test)); n != 3 {
		t.Errorf("Split(test) has %d items", n)
	}
}

func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

func TestLoadKaggleArchiveLevel(t *testing.T) {
	root := t.TempDir()
	files := map[string][]byte{}
	for rel, data := range kaggleFiles(t) {
		files["chest_xray/"+rel] = data
	}
	files["__MACOSX/chest_xray/._x"] = []byte("junk")
	files["chest_xray/__MACOSX/train/._y"] = []byte("junk")
	writeFiles(t, root, files)
	ds, err := dataset.Load(t.Context(), root, dataset.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Root != filepath.Join(root, "chest_xray") || len(ds.Items) != 10 || len(ds.Rejects) != 0 {
		t.Errorf("root %s, %d items, rejects %v", ds.Root, len(ds.Items), ds.Rejects)
	}
	if ds.Items[0].Rel != "train/NORMAL/IM-0001.jpeg" {
		t.Errorf("rel %s: relative paths must start at the data root", ds.Items[0].Rel)
	}
}

func TestLoadRejects(t *testing.T) {
	root := t.TempDir()
	good := jpegBytes(t, 80, 64)
	pngGood := pngBytes(t, 64, 64)
	files := kaggleFiles(t)
	for rel, data := range map[string][]byte{
		"train/NORMAL/truncated.jpeg":     good[:len(good)/2],
		"train/NORMAL/notes.jpeg":         []byte("this is a text file named .jpeg\n"),
		"train/NORMAL/empty.jpeg":         {},
		"train/NORMAL/tiny.jpeg":          jpegBytes(t, 16, 16),
		"train/NORMAL/huge.jpeg":          hugeJPEG(t, 60000, 50),
		"train/NORMAL/readme.txt":         []byte("hello"),
		"train/PNEUMONIA/half.png":        pngGood[:len(pngGood)-20],
		"train/PNEUMONIA/nested/x.jpeg":   good,
		"train/UNKNOWN/y.jpeg":            good,
		"train/labels.csv":                []byte("a,b"),
		"test/PNEUMONIA/header-only.jpeg": good[:300],
		"extra/z.jpeg":                    good,
		"Thumbs.db":                       []byte("x"),
		"manifest.json":                   []byte("{}"), // the generator's description: skipped
	} {
		files[rel] = data
	}
	writeFiles(t, root, files)
	ds, err := dataset.Load(context.Background(), root, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Items) != 10 {
		t.Errorf("%d items, want the 10 good ones", len(ds.Items))
	}
	want := []string{
		"train/NORMAL/empty.jpeg: empty: empty file (0 bytes)",
		"train/NORMAL/huge.jpeg: too-large: image too large: 60000x50",
		"train/NORMAL/notes.jpeg: not-an-image: not a JPEG or PNG image: starts with 74 68 69 73 20 69 73 20",
		"train/NORMAL/readme.txt: unexpected: unexpected file: extension \".txt\" is not .jpeg, .jpg or .png",
		"train/NORMAL/tiny.jpeg: too-small: 16x16: smaller than 32 pixels per side",
		"train/NORMAL/truncated.jpeg: corrupt: jpeg: no end-of-image marker (truncated file?)",
		"train/PNEUMONIA/half.png: corrupt: png: no IEND chunk (truncated file?)",
		"train/PNEUMONIA/nested: unexpected: unexpected folder (expected images)",
		"train/UNKNOWN: unexpected: unexpected folder (expected NORMAL or PNEUMONIA)",
		"train/labels.csv: unexpected: unexpected file (expected the folders NORMAL and PNEUMONIA)",
		"test/PNEUMONIA/header-only.jpeg: corrupt: corrupt image data: jpeg header: unexpected EOF",
		"extra: unexpected: unexpected folder (expected train, val or test)",
	}
	if len(ds.Rejects) != len(want) {
		t.Errorf("got %d rejects, want %d:", len(ds.Rejects), len(want))
	}
	for i, r := range ds.Rejects {
		if i >= len(want) || !strings.HasPrefix(r.String(), want[i]) {
			t.Errorf("reject %d: %s", i, r)
			continue
		}
		if r.Path != filepath.Join(root, filepath.FromSlash(r.Rel)) {
			t.Errorf("reject %d: path %s", i, r.Path)
		}
	}
	if !strings.Contains(ds.String(), "12 rejected") {
		t.Errorf("String():\n%s", ds)
	}
}

func TestFullDecode(t *testing.T) {
	root := t.TempDir()
	good := jpegBytes(t, 200, 200)
	// Cut the entropy data but keep an end marker: only a full decode sees it.
	cut := append(bytes.Clone(good[:len(good)/2]), 0xFF, 0xD9)
	writeFiles(t, root, map[string][]byte{"a.jpeg": good, "b.jpeg": cut})
	ds, err := dataset.Load(t.Context(), root, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Items) != 2 {
		t.Fatalf("header check: %d items, rejects %v", len(ds.Items), ds.Rejects)
	}
	ds, err = dataset.Load(t.Context(), root, dataset.Options{FullDecode: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Items) != 1 || len(ds.Rejects) != 1 || ds.Rejects[0].Rel != "b.jpeg" || ds.Rejects[0].Reason != dataset.ReasonCorrupt {
		t.Fatalf("full decode: items %v rejects %v", ds.Items, ds.Rejects)
	}
}

func TestLoadFlat(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string][]byte{
		"b.png":       pngBytes(t, 40, 40),
		"a.jpeg":      jpegBytes(t, 50, 40),
		".DS_Store":   []byte("x"),
		"sub/c.jpeg":  jpegBytes(t, 50, 40),
		"wrong.jpeg":  pngBytes(t, 40, 40), // PNG content: accepted, format from content
		"corrupt.png": []byte("\x89PNG\r\n\x1a\nrest"),
	})
	ds, err := dataset.Load(t.Context(), root, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Layout != dataset.LayoutFlat || len(ds.Items) != 3 {
		t.Fatalf("layout %s, items %v", ds.Layout, ds.Items)
	}
	for _, it := range ds.Items {
		if it.Split != "" || it.Label != dataset.Unlabeled {
			t.Errorf("item %+v", it)
		}
	}
	if ds.Items[2].Rel != "wrong.jpeg" || ds.Items[2].Format != preprocess.PNG {
		t.Errorf("item %+v", ds.Items[2])
	}
	var rs []string
	for _, r := range ds.Rejects {
		rs = append(rs, r.String())
	}
	got := strings.Join(rs, "\n")
	if !strings.Contains(got, "corrupt.png: corrupt: corrupt image data: png header") || !strings.Contains(got, "sub: unexpected: unexpected folder (expected images, or the folders train, val and test)") {
		t.Errorf("rejects:\n%s", got)
	}
	var b strings.Builder
	_ = ds.WriteTable(&b)
	if !strings.Contains(b.String(), "unlabeled") || !strings.Contains(b.String(), "(none)") {
		t.Errorf("table:\n%s", b.String())
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := dataset.Load(t.Context(), filepath.Join(t.TempDir(), "missing"), dataset.Options{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing root: %v", err)
	}
	root := t.TempDir()
	writeFiles(t, root, kaggleFiles(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := dataset.Load(ctx, root, dataset.Options{}); err == nil {
		t.Error("cancelled load succeeded")
	}
}

func hugeJPEG(tb testing.TB, w, h int) []byte {
	data := jpegBytes(tb, 16, 16)
	i := bytes.Index(data, []byte{0xFF, 0xC0})
	data[i+5], data[i+6] = byte(h>>8), byte(h)
	data[i+7], data[i+8] = byte(w>>8), byte(w)
	return data
}

// TestLargeFiles covers files larger than the head that Load reads: a JPEG
// whose metadata pushes the frame header past 64 KiB, and a large truncated
// JPEG.
func TestLargeFiles(t *testing.T) {
	noisy := image.NewGray(image.Rect(0, 0, 600, 500))
	for i := range noisy.Pix {
		noisy.Pix[i] = uint8(i * 7919 % 251)
	}
	var big bytes.Buffer
	if err := jpeg.Encode(&big, noisy, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	if big.Len() < 100<<10 {
		t.Fatalf("test image only %d bytes", big.Len())
	}
	small := jpegBytes(t, 120, 100)
	meta := []byte{0xFF, 0xD8}
	for range 2 { // two 60000-byte APP1 segments
		seg := make([]byte, 60002)
		seg[0], seg[1] = 0xFF, 0xE1
		binary.BigEndian.PutUint16(seg[2:], 60000)
		meta = append(meta, seg[:60002]...)
	}
	meta = append(meta, small[2:]...)
	root := t.TempDir()
	writeFiles(t, root, map[string][]byte{
		"big.jpeg":      big.Bytes(),
		"big-cut.jpeg":  big.Bytes()[:big.Len()-5000],
		"metadata.jpeg": meta,
		"padded.jpeg":   append(bytes.Clone(big.Bytes()), make([]byte, 1000)...),
	})
	ds, err := dataset.Load(t.Context(), root, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Items) != 3 || len(ds.Rejects) != 1 || ds.Rejects[0].Rel != "big-cut.jpeg" {
		t.Fatalf("items %v\nrejects %v", ds.Items, ds.Rejects)
	}
	for _, it := range ds.Items {
		if it.Rel == "metadata.jpeg" && (it.Width != 120 || it.Height != 100 || it.Size != int64(len(meta))) {
			t.Errorf("metadata.jpeg: %+v", it)
		}
	}
}
