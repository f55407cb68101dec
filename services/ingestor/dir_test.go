package ingestor_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/xray/dicom/dicomtest"
)

func writeFile(t *testing.T, root, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestIngestDirCountsEveryFileAndPublishesOneEventEach(t *testing.T) {
	h := newHarness(t, func(c *ingestor.Config) { c.MaxBytes = 48 << 10 })
	ctx := t.Context()
	root := t.TempDir()
	good := map[string][]byte{
		"chest_xray/train/NORMAL/IM-0001.jpeg":  jpegBytes(t, 96, 80, 1),
		"chest_xray/train/PNEUMONIA/p-0002.png": pngBytes(t, 128, 100, 2),
		"chest_xray/test/NORMAL/IM-0003.JPG":    jpegBytes(t, 64, 64, 3),
		"chest_xray/val/pneumonia/p-0004.jpeg":  jpegBytes(t, 200, 150, 4),
		"flat.png":                              pngBytes(t, 70, 90, 5),
	}
	full := jpegBytes(t, 120, 120, 6)
	bad := map[string]struct {
		data []byte
		code string
	}{
		"chest_xray/val/PNEUMONIA/truncated.jpeg": {full[:len(full)/2], proto.RejectUndecodable},
		"chest_xray/train/NORMAL/notes.jpeg":      {[]byte("these are notes, not an X-ray\n"), proto.RejectFormat},
		"chest_xray/train/NORMAL/empty.jpeg":      {nil, proto.RejectMissing},
		"chest_xray/train/PNEUMONIA/small.jpeg":   {jpegBytes(t, 32, 32, 7), proto.RejectTooSmall},
		"chest_xray/test/PNEUMONIA/huge.png":      {pngBytes(t, 300, 300, 8), proto.RejectTooLarge},
	}
	for rel, data := range good {
		writeFile(t, root, rel, data)
	}
	for rel, b := range bad {
		writeFile(t, root, rel, b.data)
	}
	writeFile(t, root, "chest_xray/train/NORMAL/README.txt", []byte("skipped"))
	writeFile(t, root, "chest_xray/__MACOSX/train/NORMAL/._IM-0001.jpeg", []byte("apple double"))
	writeFile(t, root, "chest_xray/.DS_Store", []byte("finder"))

	sum, err := h.svc.IngestDir(ctx, root, ingestor.DirOptions{Concurrency: 3})
	if err != nil {
		t.Fatalf("IngestDir: %v (summary %s)", err, sum)
	}
	wantRejected := map[string]int{proto.RejectUndecodable: 1, proto.RejectFormat: 1, proto.RejectMissing: 1, proto.RejectTooSmall: 1, proto.RejectTooLarge: 1}
	if sum.Files != 10 || sum.Accepted != 5 || sum.RejectedTotal() != 5 || sum.Failed != 0 || sum.Skipped != 1 || sum.Duplicates != 0 {
		t.Fatalf("summary %s; want 10 files, 5 accepted, 5 rejected, 1 skipped", sum)
	}
	for code, n := range wantRejected {
		if sum.Rejected[code] != n {
			t.Errorf("rejected %s = %d, want %d (summary %s)", code, sum.Rejected[code], n, sum)
		}
	}

	ing := ingestedEvents(t, h.env)
	if len(ing) != 5 {
		t.Fatalf("%d ingested events, want 5", len(ing))
	}
	byName := map[string]proto.ImageIngested{}
	for _, ev := range ing {
		byName[ev.FileName] = ev
	}
	wantMeta := map[string][3]string{ // file name in events -> label, split, original path
		"train/NORMAL/IM-0001.jpeg":  {proto.LabelNormal, "train", "chest_xray/train/NORMAL/IM-0001.jpeg"},
		"train/PNEUMONIA/p-0002.png": {proto.LabelPneumonia, "train", "chest_xray/train/PNEUMONIA/p-0002.png"},
		"test/NORMAL/IM-0003.JPG":    {proto.LabelNormal, "test", "chest_xray/test/NORMAL/IM-0003.JPG"},
		"val/pneumonia/p-0004.jpeg":  {proto.LabelPneumonia, "val", "chest_xray/val/pneumonia/p-0004.jpeg"},
		"flat.png":                   {"", "", "flat.png"},
	}
	for name, want := range wantMeta {
		ev, ok := byName[name]
		if !ok {
			t.Errorf("no ingested event for %s (have %v)", name, keysOf(byName))
			continue
		}
		data := good[want[2]]
		if ev.DatasetLabel != want[0] || ev.DatasetSplit != want[1] || ev.Source != proto.SourceFolder {
			t.Errorf("%s: label %q split %q source %q, want %q %q folder", name, ev.DatasetLabel, ev.DatasetSplit, ev.Source, want[0], want[1])
		}
		if ev.ImageID != sha(data) || ev.Image.SHA256 != sha(data) || ev.Image.SizeBytes != int64(len(data)) {
			t.Errorf("%s: image id %s size %d, want sha %s size %d", name, ev.ImageID, ev.Image.SizeBytes, sha(data), len(data))
		}
		if ev.RequestID != ingestor.FolderRequestID(name, sha(data)) {
			t.Errorf("%s: request id %s is not the folder id", name, ev.RequestID)
		}
		ext := strings.TrimPrefix(filepath.Ext(name), ".")
		wantFormat := map[string]string{"jpeg": "jpeg", "JPG": "jpeg", "png": "png"}[ext]
		if ev.Image.Format != wantFormat || ev.Image.Key != "bronze/images/date=2026-11-28/"+sha(data)+"."+wantFormat {
			t.Errorf("%s: format %s key %s", name, ev.Image.Format, ev.Image.Key)
		}
		stored, err := h.store.Get(ctx, ev.Image.Key)
		if err != nil || !bytes.Equal(stored, data) {
			t.Errorf("%s: stored bytes differ or missing: %v", name, err)
		}
		if ev.Image.URI != h.store.URI(ev.Image.Key) || ev.Image.Width < 64 || ev.Image.Height < 64 {
			t.Errorf("%s: uri %s size %dx%d", name, ev.Image.URI, ev.Image.Width, ev.Image.Height)
		}
	}

	rej := rejectedEvents(t, h.env)
	if len(rej) != 5 {
		t.Fatalf("%d rejected events, want 5", len(rej))
	}
	for _, ev := range rej {
		var orig string
		for rel := range bad {
			if strings.HasSuffix(rel, ev.FileName) {
				orig = rel
			}
		}
		if orig == "" {
			t.Errorf("rejected event for unexpected file %q", ev.FileName)
			continue
		}
		if ev.ReasonCode != bad[orig].code {
			t.Errorf("%s: reason code %s, want %s (%s)", ev.FileName, ev.ReasonCode, bad[orig].code, ev.Reason)
		}
		if !strings.Contains(ev.Reason, ev.FileName) {
			t.Errorf("%s: reason %q does not name the file", ev.FileName, ev.Reason)
		}
		if ev.Source != proto.SourceFolder || ev.SizeBytes != int64(len(bad[orig].data)) {
			t.Errorf("%s: source %s size %d", ev.FileName, ev.Source, ev.SizeBytes)
		}
	}
	// Only accepted images reach the blob store.
	objs, err := h.store.List(ctx, "")
	if err != nil || len(objs) != 5 {
		t.Fatalf("blob store holds %d objects (%v), want 5", len(objs), err)
	}

	// Running the job again, or over the chest_xray sub-folder, publishes no
	// duplicate: same dataset paths and bytes, same request ids.
	again, err := h.svc.IngestDir(ctx, root, ingestor.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Accepted != 5 || again.RejectedTotal() != 5 || again.Duplicates != 10 {
		t.Fatalf("second run: %s; want 5 accepted, 5 rejected, 10 duplicates", again)
	}
	sub, err := h.svc.IngestDir(ctx, filepath.Join(root, "chest_xray"), ingestor.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Files != 9 || sub.Duplicates != 9 {
		t.Fatalf("sub-folder run: %s; want 9 files, all duplicates", sub)
	}
	waitCounts(t, h.env, 5, 5)
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestIngestDirErrors(t *testing.T) {
	h := newHarness(t, nil)
	if _, err := h.svc.IngestDir(t.Context(), filepath.Join(t.TempDir(), "missing"), ingestor.DirOptions{}); err == nil {
		t.Error("missing folder: no error")
	}
	f := filepath.Join(t.TempDir(), "file.jpeg")
	writeFile(t, filepath.Dir(f), "file.jpeg", []byte("x"))
	if _, err := h.svc.IngestDir(t.Context(), f, ingestor.DirOptions{}); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("file as root: %v", err)
	}
	// An unreadable file is a failure (retried by the next run), not a rejection.
	if os.Getuid() != 0 {
		root := t.TempDir()
		writeFile(t, root, "NORMAL/locked.jpeg", jpegBytes(t, 80, 80, 1))
		writeFile(t, root, "NORMAL/ok.jpeg", jpegBytes(t, 80, 80, 2))
		if err := os.Chmod(filepath.Join(root, "NORMAL", "locked.jpeg"), 0); err != nil {
			t.Fatal(err)
		}
		sum, err := h.svc.IngestDir(t.Context(), root, ingestor.DirOptions{})
		if err == nil || sum.Failed != 1 || sum.Accepted != 1 || !strings.Contains(err.Error(), "locked.jpeg") {
			t.Errorf("unreadable file: summary %s, error %v", sum, err)
		}
	}
}

func TestDatasetPath(t *testing.T) {
	for _, tc := range []struct{ rel, label, split, path string }{
		{"chest_xray/train/NORMAL/a.jpeg", proto.LabelNormal, "train", "train/NORMAL/a.jpeg"},
		{"chest_xray/chest_xray/test/PNEUMONIA/b.jpeg", proto.LabelPneumonia, "test", "test/PNEUMONIA/b.jpeg"},
		{"val/normal/c.png", proto.LabelNormal, "val", "val/normal/c.png"},
		{"NORMAL/d.jpeg", proto.LabelNormal, "", "NORMAL/d.jpeg"},
		{"x/holdout/PNEUMONIA/e.jpeg", proto.LabelPneumonia, "", "PNEUMONIA/e.jpeg"},
		{"scans/f.jpeg", "", "", "scans/f.jpeg"},
		{"g.jpeg", "", "", "g.jpeg"},
	} {
		label, split, path := ingestor.DatasetPath(tc.rel)
		if label != tc.label || split != tc.split || path != tc.path {
			t.Errorf("DatasetPath(%q) = %q %q %q, want %q %q %q", tc.rel, label, split, path, tc.label, tc.split, tc.path)
		}
	}
}

func TestIngestDirOnlySelectsFiles(t *testing.T) {
	h := newHarness(t, nil)
	ctx := t.Context()
	root := t.TempDir()
	writeFile(t, root, "chest_xray/test/NORMAL/a.jpeg", jpegBytes(t, 96, 80, 1))
	writeFile(t, root, "chest_xray/test/NORMAL/b.jpeg", jpegBytes(t, 96, 80, 2))
	writeFile(t, root, "chest_xray/test/PNEUMONIA/c.jpeg", jpegBytes(t, 96, 80, 3))
	only := map[string]bool{"chest_xray/test/NORMAL/b.jpeg": true, "chest_xray/test/PNEUMONIA/c.jpeg": true}
	sum, err := h.svc.IngestDir(ctx, root, ingestor.DirOptions{Only: func(rel string) bool { return only[rel] }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 2 || sum.Accepted != 2 {
		t.Fatalf("summary %s; want the 2 selected files only", sum)
	}
	if n := len(ingestedEvents(t, h.env)); n != 2 {
		t.Fatalf("%d ingested events, want 2", n)
	}
}

func TestIngestDirDICOM(t *testing.T) {
	h := newHarness(t, nil)
	root := t.TempDir()
	normal := dicomFile(t, "1.2.826.0.1.3680043.8.498.200", nil)
	writeFile(t, root, "chest_xray/train/NORMAL/IM-0001.dcm", normal)
	writeFile(t, root, "chest_xray/train/PNEUMONIA/ct.DCM", dicomtest.File{Modality: "CT"}.Bytes())
	writeFile(t, root, "chest_xray/train/PNEUMONIA/p.jpeg", jpegBytes(t, 80, 80, 1))
	sum, err := h.svc.IngestDir(t.Context(), root, ingestor.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 3 || sum.Accepted != 2 || sum.Rejected[proto.RejectFormat] != 1 {
		t.Fatalf("summary %s", sum)
	}
	raw := events(t, h.env, proto.SubjectImageIngested)
	for i, ev := range ingestedEvents(t, h.env) {
		if ev.FileName != "train/NORMAL/IM-0001.dcm" {
			continue
		}
		if ev.DatasetLabel != proto.LabelNormal || ev.RequestID != ingestor.FolderRequestID(ev.FileName, sha(normal)) {
			t.Errorf("event %+v: want label NORMAL and the folder request id of the file", ev)
		}
		checkDICOMIngested(t, h, raw[i].Data, ev, normal)
	}
	rej := rejectedEvents(t, h.env)
	if len(rej) != 1 || !strings.Contains(rej[0].Reason, `file "train/PNEUMONIA/ct.DCM": DICOM: modality "CT"`) {
		t.Errorf("rejections %+v", rej)
	}
}
