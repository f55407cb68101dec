package synth

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

func TestDICOMOutput(t *testing.T) {
	o := smallOptions()
	o.Train, o.Val, o.Test = Counts{Normal: 2, Pneumonia: 2}, Counts{}, Counts{}
	o.DICOM = DICOMAlso
	dir := t.TempDir()
	generate(t, dir, o)
	root := filepath.Join(dir, Root)
	m, err := ReadManifest(root)
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]bool{}
	for _, r := range m.Images {
		if r.File == "" || r.DICOM == "" {
			t.Fatalf("record %+v: want both JPEG and DICOM", r)
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(r.DICOM)))
		if err != nil {
			t.Fatal(err)
		}
		ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil)
		if err != nil {
			t.Fatalf("%s: parse: %v", r.DICOM, err)
		}
		str := func(tg tag.Tag) string {
			t.Helper()
			e, err := ds.FindElementByTag(tg)
			if err != nil {
				t.Fatalf("%s: %s: %v", r.DICOM, tag.DebugString(tg), err)
			}
			v := e.Value.GetValue()
			if s, ok := v.([]string); ok && len(s) > 0 {
				return s[0]
			}
			if n, ok := v.([]int); ok && len(n) > 0 {
				return strconv.Itoa(n[0])
			}
			return ""
		}
		for tg, want := range map[tag.Tag]string{
			tag.Modality:                  "DX",
			tag.ViewPosition:              "PA",
			tag.PhotometricInterpretation: "MONOCHROME2",
			tag.TransferSyntaxUID:         explicitVRLittleEndian,
			tag.SOPClassUID:               dxPresentationSOPClass,
			tag.BitsAllocated:             "8",
		} {
			if got := str(tg); got != want {
				t.Errorf("%s: %s = %q, want %q", r.DICOM, tag.DebugString(tg), got, want)
			}
		}
		for _, tg := range []tag.Tag{tag.SOPInstanceUID, tag.StudyInstanceUID, tag.SeriesInstanceUID} {
			u := str(tg)
			if len(u) > 64 || u[:5] != "2.25." || uids[u] {
				t.Errorf("%s: %s %q not a unique 2.25 UID", r.DICOM, tag.DebugString(tg), u)
			}
			uids[u] = true
		}
		if id := str(tag.PatientID); len(id) < 5 || id[:4] != "SYN-" {
			t.Errorf("%s: PatientID %q", r.DICOM, id)
		}
		pd, err := ds.FindElementByTag(tag.PixelData)
		if err != nil {
			t.Fatal(err)
		}
		info := dicom.MustGetPixelDataInfo(pd.Value)
		if len(info.Frames) != 1 {
			t.Fatalf("%s: %d frames", r.DICOM, len(info.Frames))
		}
		nf, err := info.Frames[0].GetNativeFrame()
		if err != nil {
			t.Fatal(err)
		}
		if nf.Rows() != r.Height || nf.Cols() != r.Width || nf.BitsPerSample() != 8 {
			t.Fatalf("%s: frame %dx%d %d bits, want %dx%d 8", r.DICOM, nf.Cols(), nf.Rows(), nf.BitsPerSample(), r.Width, r.Height)
		}
		img, _, err := Render(o, r.Split, r.Label, r.Index)
		if err != nil {
			t.Fatal(err)
		}
		raw, ok := nf.RawDataSlice().([]uint8)
		if !ok || !bytes.Equal(raw[:len(img.Pix)], img.Pix) {
			t.Errorf("%s: pixel data differs from the rendered image", r.DICOM)
		}
	}

	// DICOM-only output: no JPEG files, and byte-identical DICOM files.
	o.DICOM = DICOMOnly
	only := t.TempDir()
	generate(t, only, o)
	tree := readTree(t, filepath.Join(only, Root))
	first := readTree(t, root)
	for name, data := range tree {
		if filepath.Ext(name) == ".jpeg" {
			t.Errorf("%s written in DICOM-only mode", name)
		}
		if filepath.Ext(name) == ".dcm" && !bytes.Equal(data, first[name]) {
			t.Errorf("%s differs between runs", name)
		}
	}
}
