package dicom_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/healthcare-ai/platform/xray/dicom"
	"github.com/healthcare-ai/platform/xray/dicom/dicomtest"
	"github.com/healthcare-ai/platform/xray/synth"
)

// fuzzMaxSide keeps each fuzz execution small; the bound it checks scales
// with it.
const fuzzMaxSide = 512

// FuzzDecode feeds mutated DICOM files to Decode and ReadAttributes: no
// input may panic, every error must be a *dicom.Error of a known kind, a
// decoded image must be within the limits, and the memory allocated by one
// call must stay below MaxSide² x 4 (a colour JPEG) plus a few times the
// input size.
func FuzzDecode(f *testing.F) {
	for _, file := range seedFiles(f) {
		f.Add(file)
	}
	kinds := []error{dicom.ErrNotDICOM, dicom.ErrUnsupported, dicom.ErrMalformed, dicom.ErrTooLarge}
	opts := dicom.Options{MaxSide: fuzzMaxSide, PatientKey: func(id string) string { return "k" }}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		img, err := dicom.Decode(data, opts)
		_, aerr := dicom.ReadAttributes(data, opts)
		runtime.ReadMemStats(&after)

		limit := uint64(4*fuzzMaxSide*fuzzMaxSide) + 8*uint64(len(data)) + 1<<20
		if got := after.TotalAlloc - before.TotalAlloc; got > limit {
			t.Errorf("one decode allocated %d bytes for a %d-byte input, more than the bound %d", got, len(data), limit)
		}
		for _, e := range []error{err, aerr} {
			if e == nil {
				continue
			}
			var de *dicom.Error
			if !errors.As(e, &de) {
				t.Fatalf("error %v is %T, want *dicom.Error", e, e)
			}
			known := false
			for _, k := range kinds {
				known = known || errors.Is(e, k)
			}
			if !known || de.Reason == "" {
				t.Fatalf("error %q wraps no known kind", e)
			}
		}
		if err != nil {
			return
		}
		b := img.Gray.Bounds()
		if b.Min.X != 0 || b.Min.Y != 0 || b.Dx() < 1 || b.Dy() < 1 || b.Dx() > fuzzMaxSide || b.Dy() > fuzzMaxSide {
			t.Fatalf("decoded bounds %v outside 1..%d", b, fuzzMaxSide)
		}
		if len(img.Gray.Pix) != b.Dx()*b.Dy() || img.Gray.Stride != b.Dx() {
			t.Fatalf("decoded image has %d pixels with stride %d for %v", len(img.Gray.Pix), img.Gray.Stride, b)
		}
	})
}

// seedFiles returns small valid files of every supported kind, a few
// unsupported ones, and one file of the synthetic data generator.
func seedFiles(tb testing.TB) [][]byte {
	jp := dicomtest.JPEG(tb, dicomtest.GrayImage(24, 16), 75)
	seq := dicomtest.Element{Tag: 0x0008_1140, Items: [][]dicomtest.Element{{dicomtest.Str(0x0008_0060, "CS", "CT")}}, Undefined: true}
	files := [][]byte{
		dicomtest.File{Rows: 16, Columns: 24}.Bytes(),
		dicomtest.File{Rows: 16, Columns: 24, TransferSyntax: dicomtest.ImplicitVRLittleEndian, Extra: []dicomtest.Element{seq}}.Bytes(),
		dicomtest.File{Rows: 16, Columns: 24, BitsAllocated: 16, BitsStored: 12, WindowCenter: "100", WindowWidth: "200", RescaleSlope: "2"}.Bytes(),
		dicomtest.File{Rows: 16, Columns: 24, BitsAllocated: 16, PixelRepresentation: 1, Photometric: "MONOCHROME1"}.Bytes(),
		dicomtest.File{Rows: 16, Columns: 24, TransferSyntax: dicomtest.JPEGBaseline, Pixels: jp, Fragments: 2}.Bytes(),
		dicomtest.File{Rows: 16, Columns: 24, TransferSyntax: dicomtest.JPEG2000Lossless, Pixels: []byte{1, 2, 3, 4}}.Bytes(),
		dicomtest.File{Rows: 16, Columns: 24, Modality: "CT"}.Bytes(),
	}
	o := synth.DefaultOptions()
	o.Train, o.Val, o.Test = synth.Counts{Normal: 1}, synth.Counts{}, synth.Counts{}
	o.MinSize, o.MaxSize = 64, 64
	o.DICOM = synth.DICOMOnly
	dir, err := os.MkdirTemp("", "dicom-seed-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(dir)
	res, err := synth.Generate(tb.Context(), dir, o)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := synth.ReadManifest(res.Root)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range m.Images {
		data, err := os.ReadFile(filepath.Join(res.Root, filepath.FromSlash(r.DICOM)))
		if err != nil {
			tb.Fatal(err)
		}
		files = append(files, data)
	}
	return files
}
