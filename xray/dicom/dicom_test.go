package dicom_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthcare-ai/platform/xray/dicom"
	"github.com/healthcare-ai/platform/xray/dicom/dicomtest"
	"github.com/healthcare-ai/platform/xray/synth"
)

func decode(t *testing.T, f dicomtest.File) *dicom.Image {
	t.Helper()
	img, err := dicom.Decode(f.Bytes(), dicom.Options{})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return img
}

// linear is the DICOM LINEAR window function on 0..255, rounded.
func linear(x, c, w float64) uint8 {
	switch {
	case x <= c-0.5-(w-1)/2:
		return 0
	case x > c-0.5+(w-1)/2:
		return 255
	}
	return uint8(math.Round(((x-(c-0.5))/(w-1) + 0.5) * 255))
}

func TestDecodeNative(t *testing.T) {
	const w, h = 40, 30
	ramp8 := dicomtest.Gray8(w, h, func(x, y int) uint8 { return uint8(x*6 + y) })
	// 12 bits stored in 16: 100..4000.
	ramp12 := dicomtest.Gray16(w, h, func(x, y int) uint16 { return uint16(100 + (y*w+x)*3900/(w*h-1)) })
	for _, tc := range []struct {
		name    string
		file    dicomtest.File
		want    func(x, y int) uint8
		mapping string
	}{
		{
			name:    "8-bit MONOCHROME2 kept as is",
			file:    dicomtest.File{Pixels: ramp8},
			want:    func(x, y int) uint8 { return ramp8[y*w+x] },
			mapping: "identity",
		},
		{
			name:    "8-bit MONOCHROME1 inverted",
			file:    dicomtest.File{Pixels: ramp8, Photometric: "MONOCHROME1"},
			want:    func(x, y int) uint8 { return 255 - ramp8[y*w+x] },
			mapping: "identity, inverted (MONOCHROME1)",
		},
		{
			name:    "implicit VR little endian",
			file:    dicomtest.File{Pixels: ramp8, TransferSyntax: dicomtest.ImplicitVRLittleEndian},
			want:    func(x, y int) uint8 { return ramp8[y*w+x] },
			mapping: "identity",
		},
		{
			name: "12 of 16 bits, min-max",
			file: dicomtest.File{Pixels: ramp12, BitsAllocated: 16, BitsStored: 12},
			want: func(x, y int) uint8 {
				v := float64(binary.LittleEndian.Uint16(ramp12[2*(y*w+x):]))
				return uint8(math.Round((v - 100) / 3900 * 255))
			},
			mapping: "min-max 100..4000",
		},
		{
			name: "12 of 16 bits, window",
			file: dicomtest.File{Pixels: ramp12, BitsAllocated: 16, BitsStored: 12, WindowCenter: `2000\1000`, WindowWidth: `1500\300`},
			want: func(x, y int) uint8 {
				return linear(float64(binary.LittleEndian.Uint16(ramp12[2*(y*w+x):])), 2000, 1500)
			},
			mapping: "window 2000/1500 LINEAR",
		},
		{
			name: "rescale then window",
			file: dicomtest.File{Pixels: ramp12, BitsAllocated: 16, BitsStored: 12, RescaleSlope: "2", RescaleIntercept: "-1000", WindowCenter: "3000", WindowWidth: "4000"},
			want: func(x, y int) uint8 {
				v := float64(binary.LittleEndian.Uint16(ramp12[2*(y*w+x):]))*2 - 1000
				return linear(v, 3000, 4000)
			},
			mapping: "window 3000/4000 LINEAR",
		},
		{
			name: "signed 16 bits, min-max over -2000..1999",
			file: dicomtest.File{
				BitsAllocated: 16, BitsStored: 16, PixelRepresentation: 1,
				Pixels: dicomtest.Gray16(w, h, func(x, y int) uint16 { return uint16(int16(-2000 + (y*w+x)*3999/(w*h-1))) }),
			},
			want: func(x, y int) uint8 {
				v := float64(-2000 + (y*w+x)*3999/(w*h-1))
				return uint8(math.Round((v + 2000) / 3999 * 255))
			},
			mapping: "min-max -2000..1999",
		},
		{
			name: "signed 12 bits, high bit 15 (stored in the top bits)",
			file: dicomtest.File{
				BitsAllocated: 16, BitsStored: 12, HighBit: 15, PixelRepresentation: 1,
				Pixels: dicomtest.Gray16(w, h, func(x, y int) uint16 {
					v := int16(-500 + (y*w+x)*1000/(w*h-1))
					return uint16(v<<4) | 0xF // low 4 bits are noise outside BitsStored
				}),
			},
			want: func(x, y int) uint8 {
				v := float64(-500 + (y*w+x)*1000/(w*h-1))
				return uint8(math.Round((v + 500) / 1000 * 255))
			},
			mapping: "min-max -500..500",
		},
		{
			name: "16-bit MONOCHROME1 with window",
			file: dicomtest.File{Pixels: ramp12, BitsAllocated: 16, BitsStored: 12, Photometric: "MONOCHROME1", WindowCenter: "2100", WindowWidth: "4001"},
			want: func(x, y int) uint8 {
				return 255 - linear(float64(binary.LittleEndian.Uint16(ramp12[2*(y*w+x):])), 2100, 4001)
			},
			mapping: "window 2100/4001 LINEAR, inverted (MONOCHROME1)",
		},
		{
			name: "window width below 1 is ignored",
			file: dicomtest.File{Pixels: ramp12, BitsAllocated: 16, BitsStored: 12, WindowCenter: "2000", WindowWidth: "0"},
			want: func(x, y int) uint8 {
				v := float64(binary.LittleEndian.Uint16(ramp12[2*(y*w+x):]))
				return uint8(math.Round((v - 100) / 3900 * 255))
			},
			mapping: "min-max 100..4000",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.file.Rows, tc.file.Columns = h, w
			img := decode(t, tc.file)
			if b := img.Gray.Bounds(); b != image.Rect(0, 0, w, h) || img.Gray.Stride != w {
				t.Fatalf("bounds %v stride %d, want %dx%d compact", b, img.Gray.Stride, w, h)
			}
			if img.Mapping != tc.mapping {
				t.Errorf("Mapping %q, want %q", img.Mapping, tc.mapping)
			}
			bad := 0
			for y := range h {
				for x := range w {
					if got, want := img.Gray.GrayAt(x, y).Y, tc.want(x, y); got != want {
						if bad < 5 {
							t.Errorf("pixel (%d,%d) = %d, want %d", x, y, got, want)
						}
						bad++
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d pixels differ", bad, w*h)
			}
		})
	}
}

func TestVOIFunctions(t *testing.T) {
	const w, h = 256, 1
	px := dicomtest.Gray16(w, h, func(x, _ int) uint16 { return uint16(x * 16) }) // 0..4080
	for _, fn := range []string{"LINEAR_EXACT", "SIGMOID"} {
		t.Run(fn, func(t *testing.T) {
			img := decode(t, dicomtest.File{Pixels: px, Rows: h, Columns: w, BitsAllocated: 16, BitsStored: 12, WindowCenter: "2048", WindowWidth: "2048", VOILUTFunction: fn})
			if !strings.Contains(img.Mapping, fn) {
				t.Errorf("Mapping %q, want %s", img.Mapping, fn)
			}
			prev := uint8(0)
			for x := range w {
				v := img.Gray.Pix[x]
				if v < prev {
					t.Fatalf("not monotonic at %d: %d after %d", x, v, prev)
				}
				prev = v
			}
			if mid := img.Gray.Pix[128]; mid < 126 || mid > 129 {
				t.Errorf("value at the window centre = %d, want about 128", mid)
			}
			if img.Gray.Pix[0] > 10 || img.Gray.Pix[w-1] < 245 {
				t.Errorf("ends %d and %d, want near 0 and 255", img.Gray.Pix[0], img.Gray.Pix[w-1])
			}
		})
	}
}

func TestDecodeJPEGBaseline(t *testing.T) {
	gray := dicomtest.GrayImage(120, 90)
	for _, tc := range []struct {
		name        string
		img         image.Image
		photometric string
		samples     int
		fragments   int
		invert      bool
	}{
		{name: "gray, one fragment", img: gray, photometric: "MONOCHROME2", samples: 1},
		{name: "gray, three fragments", img: gray, photometric: "MONOCHROME2", samples: 1, fragments: 3},
		{name: "gray MONOCHROME1", img: gray, photometric: "MONOCHROME1", samples: 1, invert: true},
		{name: "colour YBR_FULL_422 to luma", img: colourise(gray), photometric: "YBR_FULL_422", samples: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := dicomtest.JPEG(t, tc.img, 90)
			img := decode(t, dicomtest.File{
				TransferSyntax: dicomtest.JPEGBaseline, Pixels: frame, Fragments: tc.fragments,
				Rows: 90, Columns: 120, Photometric: tc.photometric, SamplesPerPixel: tc.samples,
			})
			ref, err := jpeg.Decode(bytes.NewReader(frame))
			if err != nil {
				t.Fatal(err)
			}
			want := compact(t, ref)
			if tc.invert {
				want = bytes.Clone(want)
				for i := range want {
					want[i] = 255 - want[i]
				}
			}
			if !bytes.Equal(img.Gray.Pix, want) {
				t.Error("decoded pixels differ from image/jpeg's decode of the frame")
			}
			if img.TransferSyntaxUID != dicom.JPEGBaseline {
				t.Errorf("TransferSyntaxUID %q", img.TransferSyntaxUID)
			}
		})
	}
}

// compact returns the luma of a decoded JPEG, row after row.
func compact(t *testing.T, img image.Image) []byte {
	t.Helper()
	b := img.Bounds()
	var out []byte
	for y := range b.Dy() {
		switch m := img.(type) {
		case *image.Gray:
			out = append(out, m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:b.Dx()]...)
		case *image.YCbCr:
			out = append(out, m.Y[m.YOffset(b.Min.X, b.Min.Y+y):][:b.Dx()]...)
		default:
			t.Fatalf("reference decode gave %T", img)
		}
	}
	return out
}

func colourise(g *image.Gray) image.Image {
	out := image.NewRGBA(g.Rect)
	for i, v := range g.Pix {
		out.Set(i%g.Rect.Dx(), i/g.Rect.Dx(), color.RGBA{R: v, G: v, B: v, A: 255})
	}
	return out
}

func TestAttributesDeidentified(t *testing.T) {
	var got []string
	opts := dicom.Options{PatientKey: func(id string) string { got = append(got, id); return "key-of-" + strings.ToLower(id) }}
	data := dicomtest.File{
		PixelSpacing: `0.139\0.143`, Manufacturer: "Acme X-Ray", ViewPosition: "AP",
		SOPInstanceUID: "1.2.3.4.5", StudyUID: "1.2.3.4", SeriesUID: "1.2.3.4.1",
	}.Bytes()
	img, err := dicom.Decode(data, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := dicom.Attributes{
		PatientKey: "key-of-mrn-00042", StudyInstanceUID: "1.2.3.4", SeriesInstanceUID: "1.2.3.4.1",
		SOPInstanceUID: "1.2.3.4.5", SOPClassUID: dicomtest.DXForPresentation, Modality: "DX",
		ViewPosition: "AP", Manufacturer: "Acme X-Ray", PixelSpacing: []float64{0.139, 0.143},
		TransferSyntaxUID: dicom.ExplicitVRLittleEndian,
	}
	gotJSON, _ := json.Marshal(img.Attributes)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("attributes\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if len(got) != 1 || got[0] != dicomtest.PatientID {
		t.Errorf("PatientKey called with %q, want [%q]", got, dicomtest.PatientID)
	}
	for _, id := range []string{dicomtest.PatientName, "DOE", dicomtest.PatientID, dicomtest.PatientBirthDate, dicomtest.AccessionNumber, dicomtest.InstitutionName, "HOUSE", "Springfield"} {
		if bytes.Contains(gotJSON, []byte(id)) {
			t.Errorf("attributes %s contain identifier %q", gotJSON, id)
		}
	}
	// Without a patient key function nothing of the patient id is kept.
	a, err := dicom.ReadAttributes(data, dicom.Options{})
	if err != nil || a.PatientKey != "" || a.SOPInstanceUID != "1.2.3.4.5" {
		t.Errorf("ReadAttributes without PatientKey = %+v, %v", a, err)
	}
}

func TestSequencesSkipped(t *testing.T) {
	// Nested sequences, defined and undefined lengths, holding attributes
	// that must not be taken for the top-level ones.
	inner := []dicomtest.Element{dicomtest.Str(0x0008_0060, "CS", "CT"), dicomtest.Str(0x0010_0010, "PN", "NESTED^NAME")}
	nested := dicomtest.Element{Tag: 0x0040_A730, Items: [][]dicomtest.Element{inner, inner}, Undefined: true}
	outer := func(undefined bool) dicomtest.Element {
		return dicomtest.Element{Tag: 0x0008_1140, Items: [][]dicomtest.Element{append(inner, nested)}, Undefined: undefined}
	}
	for _, ts := range []string{dicomtest.ExplicitVRLittleEndian, dicomtest.ImplicitVRLittleEndian} {
		for _, undefined := range []bool{false, true} {
			img := decode(t, dicomtest.File{TransferSyntax: ts, Extra: []dicomtest.Element{outer(undefined)}})
			if img.Modality != "DX" {
				t.Errorf("%s undefined=%v: modality %q, want DX from the top level", ts, undefined, img.Modality)
			}
		}
	}
	// Nesting deeper than the bound is refused, not recursed into.
	deep := dicomtest.Element{Tag: 0x0040_A730, Items: [][]dicomtest.Element{inner}, Undefined: true}
	for range 40 {
		deep = dicomtest.Element{Tag: 0x0040_A730, Items: [][]dicomtest.Element{{deep}}, Undefined: true}
	}
	_, err := dicom.Decode(dicomtest.File{Extra: []dicomtest.Element{deep}}.Bytes(), dicom.Options{})
	if !errors.Is(err, dicom.ErrMalformed) || !strings.Contains(err.Error(), "nested") {
		t.Errorf("deep nesting: %v, want ErrMalformed about nesting", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := dicomtest.File{}.Bytes()
	for _, tc := range []struct {
		name   string
		data   []byte
		opts   dicom.Options
		kind   error
		field  string
		value  string
		reason string // substring
		sop    string // Attributes.SOPInstanceUID expected with the error
	}{
		{name: "JPEG 2000", data: dicomtest.File{TransferSyntax: dicomtest.JPEG2000Lossless, SOPInstanceUID: "1.2.3.9", Pixels: []byte{1, 2}}.Bytes(),
			kind: dicom.ErrUnsupported, field: dicom.FieldTransferSyntax, value: dicomtest.JPEG2000Lossless,
			reason: "transfer syntax 1.2.840.10008.1.2.4.90 (JPEG 2000 Image Compression (Lossless Only)) is not supported", sop: "1.2.3.9"},
		{name: "deflated", data: dicomtest.File{TransferSyntax: dicomtest.DeflatedExplicitVRLE, SOPInstanceUID: "1.2.3.8"}.Bytes(),
			kind: dicom.ErrUnsupported, field: dicom.FieldTransferSyntax, value: dicomtest.DeflatedExplicitVRLE, reason: "Deflated", sop: "1.2.3.8"},
		{name: "unknown syntax", data: dicomtest.File{TransferSyntax: "1.2.3.4.5.6"}.Bytes(),
			kind: dicom.ErrUnsupported, field: dicom.FieldTransferSyntax, value: "1.2.3.4.5.6", reason: "transfer syntax 1.2.3.4.5.6 is not supported"},
		{name: "CT", data: dicomtest.File{Modality: "CT", SOPInstanceUID: "1.2.3.7"}.Bytes(),
			kind: dicom.ErrUnsupported, field: dicom.FieldModality, value: "CT", reason: `modality "CT" is not supported: must be one of CR, DX`, sop: "1.2.3.7"},
		{name: "no modality", data: dicomtest.File{Modality: "-"}.Bytes(),
			kind: dicom.ErrUnsupported, field: dicom.FieldModality, reason: "modality missing"},
		{name: "modality allowed by options", data: dicomtest.File{Modality: "CR"}.Bytes(), opts: dicom.Options{Modalities: []string{"DX"}},
			kind: dicom.ErrUnsupported, field: dicom.FieldModality, value: "CR"},
		{name: "RGB native", data: dicomtest.File{Photometric: "RGB", SamplesPerPixel: 3, Pixels: make([]byte, 64*64*3)}.Bytes(),
			kind: dicom.ErrUnsupported, field: dicom.FieldPhotometric, value: "RGB"},
		{name: "32 bits", data: dicomtest.File{BitsAllocated: 32, Pixels: make([]byte, 64*64*4)}.Bytes(),
			kind: dicom.ErrUnsupported, value: "32", reason: "BitsAllocated (0028,0100) 32 is not supported"},
		{name: "not DICOM", data: []byte("\xff\xd8\xff\xe0 a JPEG"), kind: dicom.ErrNotDICOM, field: dicom.FieldFile},
		{name: "too large", data: dicomtest.File{Rows: 9000, Columns: 100, Pixels: []byte{0, 0}}.Bytes(),
			kind: dicom.ErrTooLarge, field: dicom.FieldDimensions, value: "100x9000"},
		{name: "too large for options", data: good, opts: dicom.Options{MaxSide: 32}, kind: dicom.ErrTooLarge},
		{name: "no pixel data", data: dicomtest.File{NoPixels: true}.Bytes(), kind: dicom.ErrMalformed, field: dicom.FieldPixels},
		{name: "short pixel data", data: dicomtest.File{Pixels: make([]byte, 100)}.Bytes(), kind: dicom.ErrMalformed, reason: "less than one frame"},
		{name: "JPEG size differs from rows", data: dicomtest.File{TransferSyntax: dicomtest.JPEGBaseline, Pixels: dicomtest.JPEG(t, dicomtest.GrayImage(32, 32), 80)}.Bytes(),
			kind: dicom.ErrMalformed, reason: "JPEG frame is 32x32 pixels but Columns x Rows say 64x64"},
		{name: "JPEG garbage", data: dicomtest.File{TransferSyntax: dicomtest.JPEGBaseline, Pixels: []byte("not a jpeg at all")}.Bytes(),
			kind: dicom.ErrMalformed, field: dicom.FieldPixels},
		{name: "bad UID", data: dicomtest.File{StudyUID: "1.2.abc"}.Bytes(), kind: dicom.ErrMalformed, reason: "not a valid UID"},
		{name: "rescale slope 0", data: dicomtest.File{RescaleSlope: "0"}.Bytes(), kind: dicom.ErrMalformed, reason: "RescaleSlope"},
		{name: "bits stored above allocated", data: dicomtest.File{BitsStored: 9}.Bytes(), kind: dicom.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := dicom.Decode(tc.data, tc.opts)
			if err == nil {
				t.Fatalf("Decode succeeded (%dx%d), want %v", img.Gray.Rect.Dx(), img.Gray.Rect.Dy(), tc.kind)
			}
			var e *dicom.Error
			if !errors.As(err, &e) || !errors.Is(err, tc.kind) {
				t.Fatalf("error %v (%T), want *dicom.Error wrapping %v", err, err, tc.kind)
			}
			if tc.field != "" && e.Field != tc.field {
				t.Errorf("Field %q, want %q", e.Field, tc.field)
			}
			if tc.value != "" && e.Value != tc.value {
				t.Errorf("Value %q, want %q", e.Value, tc.value)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q, want it to contain %q", err, tc.reason)
			}
			if tc.sop != "" && e.Attributes.SOPInstanceUID != tc.sop {
				t.Errorf("Attributes.SOPInstanceUID %q, want %q", e.Attributes.SOPInstanceUID, tc.sop)
			}
		})
	}
}

// Every truncation of a valid file is an error, never a panic.
func TestTruncated(t *testing.T) {
	for _, f := range []dicomtest.File{
		{Rows: 8, Columns: 8, Extra: []dicomtest.Element{{Tag: 0x0008_1140, Items: [][]dicomtest.Element{{dicomtest.Str(0x0008_0060, "CS", "CT")}}, Undefined: true}}},
		{Rows: 16, Columns: 16, TransferSyntax: dicomtest.JPEGBaseline, Pixels: dicomtest.JPEG(t, dicomtest.GrayImage(16, 16), 80), Fragments: 2},
	} {
		data := f.Bytes()
		if _, err := dicom.Decode(data, dicom.Options{}); err != nil {
			t.Fatalf("full file: %v", err)
		}
		for n := range len(data) {
			if _, err := dicom.Decode(data[:n], dicom.Options{}); err == nil {
				t.Errorf("file cut at %d of %d bytes decoded without error", n, len(data))
			}
		}
	}
}

// The generator's DICOM files (native 8-bit MONOCHROME2) decode to exactly
// the rendered images.
func TestSynthDICOM(t *testing.T) {
	o := synth.DefaultOptions()
	o.Train, o.Val, o.Test = synth.Counts{Normal: 2, Pneumonia: 2}, synth.Counts{}, synth.Counts{}
	o.MinSize, o.MaxSize = 160, 256
	o.DICOM = synth.DICOMOnly
	res, err := synth.Generate(t.Context(), t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := synth.ReadManifest(res.Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Images {
		data, err := os.ReadFile(filepath.Join(res.Root, filepath.FromSlash(r.DICOM)))
		if err != nil {
			t.Fatal(err)
		}
		img, err := dicom.Decode(data, dicom.Options{PatientKey: func(id string) string { return "k" }})
		if err != nil {
			t.Fatalf("%s: %v", r.DICOM, err)
		}
		want, _, err := synth.Render(o, r.Split, r.Label, r.Index)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(img.Gray.Pix, want.Pix) || img.Gray.Rect != want.Rect {
			t.Errorf("%s: decoded image differs from the rendered one", r.DICOM)
		}
		if img.Modality != "DX" || img.ViewPosition != "PA" || img.PatientKey != "k" || img.SOPInstanceUID == "" {
			t.Errorf("%s: attributes %+v", r.DICOM, img.Attributes)
		}
	}
}

// needTool returns the path of an external program. Missing, it fails the
// test in CI (CI=true) and skips it elsewhere.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found (%v): install dcmtk with scripts/setup.sh dicom", name, err)
		}
		t.Skipf("%s not found: install dcmtk (scripts/setup.sh dicom) to run this test", name)
	}
	return p
}

// Files written by dcmtk: img2dcm wraps a JPEG (JPEG baseline), dcmdjpeg
// turns it into native pixel data.
func TestDCMTKFiles(t *testing.T) {
	img2dcm := needTool(t, "img2dcm")
	dcmdjpeg := needTool(t, "dcmdjpeg")
	dir := t.TempDir()
	src := dicomtest.GrayImage(200, 150)
	jpegData := dicomtest.JPEG(t, src, 92)
	in := filepath.Join(dir, "in.jpeg")
	if err := os.WriteFile(in, jpegData, 0o644); err != nil {
		t.Fatal(err)
	}
	wrapped, native := filepath.Join(dir, "jpeg.dcm"), filepath.Join(dir, "native.dcm")
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.CommandContext(t.Context(), name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run(img2dcm, "-k", "Modality=DX", "-k", "PatientName=DOE^JANE", "-k", "PatientID=PAT-1", "-k", "ViewPosition=PA", in, wrapped)
	run(dcmdjpeg, wrapped, native)
	ref, err := jpeg.Decode(bytes.NewReader(jpegData))
	if err != nil {
		t.Fatal(err)
	}
	want := compact(t, ref)
	for _, tc := range []struct {
		file, syntax string
		maxDiff      int // dcmdjpeg's IJG decoder may round differently from image/jpeg
	}{
		{wrapped, dicom.JPEGBaseline, 0},
		{native, dicom.ExplicitVRLittleEndian, 2},
	} {
		data, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		img, err := dicom.Decode(data, dicom.Options{PatientKey: func(string) string { return "k" }})
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(tc.file), err)
		}
		if img.TransferSyntaxUID != tc.syntax || img.Modality != "DX" || img.ViewPosition != "PA" || img.PatientKey != "k" {
			t.Errorf("%s: attributes %+v", filepath.Base(tc.file), img.Attributes)
		}
		worst := 0
		if len(img.Gray.Pix) != len(want) {
			t.Fatalf("%s: %d pixels, want %d", filepath.Base(tc.file), len(img.Gray.Pix), len(want))
		}
		for i := range want {
			worst = max(worst, abs(int(img.Gray.Pix[i])-int(want[i])))
		}
		if worst > tc.maxDiff {
			t.Errorf("%s: pixels differ from the JPEG's by up to %d, want at most %d", filepath.Base(tc.file), worst, tc.maxDiff)
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// BenchmarkDecode measures the two paths on a 2000x2000 radiograph.
func BenchmarkDecode(b *testing.B) {
	const side = 2000
	native16 := dicomtest.File{
		Rows: side, Columns: side, BitsAllocated: 16, BitsStored: 12,
		Pixels: dicomtest.Gray16(side, side, func(x, y int) uint16 { return uint16((x*3 + y*5) % 4096) }),
	}.Bytes()
	windowed := dicomtest.File{
		Rows: side, Columns: side, BitsAllocated: 16, BitsStored: 12, WindowCenter: "2048", WindowWidth: "3000",
		Pixels: dicomtest.Gray16(side, side, func(x, y int) uint16 { return uint16((x*3 + y*5) % 4096) }),
	}.Bytes()
	jpegFile := dicomtest.File{
		Rows: side, Columns: side, TransferSyntax: dicomtest.JPEGBaseline,
		Pixels: dicomtest.JPEG(b, dicomtest.GrayImage(side, side), 90),
	}.Bytes()
	for _, bc := range []struct {
		name string
		data []byte
	}{{"native16-minmax-2000", native16}, {"native16-window-2000", windowed}, {"jpeg-baseline-2000", jpegFile}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				if _, err := dicom.Decode(bc.data, dicom.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
