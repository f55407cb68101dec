// Package dicomtest writes small DICOM Part 10 files for tests: chest
// radiographs with native or JPEG baseline pixel data, the identifiers a real
// file carries (so tests can check they are not kept), and optional extra
// elements such as nested sequences.
package dicomtest

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"image"
	"image/jpeg"
	"slices"
	"testing"
)

// Transfer syntaxes.
const (
	ImplicitVRLittleEndian = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
	JPEGBaseline           = "1.2.840.10008.1.2.4.50"
	JPEG2000Lossless       = "1.2.840.10008.1.2.4.90"
	DeflatedExplicitVRLE   = "1.2.840.10008.1.2.1.99"
)

// DXForPresentation is the Digital X-Ray Image Storage - For Presentation SOP
// class.
const DXForPresentation = "1.2.840.10008.5.1.4.1.1.1.1"

// Identifiers every file made by File carries unless overridden: none of
// them may appear in what the platform stores.
const (
	PatientName      = "DOE^JANE^Q"
	PatientID        = "MRN-00042"
	PatientBirthDate = "19700101"
	AccessionNumber  = "ACC-7781"
	InstitutionName  = "St Example Hospital"
	ReferringPhys    = "HOUSE^GREGORY"
	PatientAddress   = "1 Example Street, Springfield"
)

// Element is a data element. Value is the encoded value (padded to even
// length by Bytes). Items, when not nil, make it a sequence of items holding
// those elements; Undefined writes the sequence and its items with
// undefined lengths.
type Element struct {
	Tag       uint32 // group<<16 | element
	VR        string
	Value     []byte
	Items     [][]Element
	Undefined bool
}

// Str is a string element.
func Str(tag uint32, vr, s string) Element { return Element{Tag: tag, VR: vr, Value: []byte(s)} }

// US is an unsigned short element.
func US(tag uint32, v int) Element {
	return Element{Tag: tag, VR: "US", Value: binary.LittleEndian.AppendUint16(nil, uint16(v))}
}

// File describes a file. Zero fields take the defaults of a 64x64 8-bit
// MONOCHROME2 DX image in explicit VR little endian.
type File struct {
	TransferSyntax string
	SOPClassUID    string
	SOPInstanceUID string
	StudyUID       string
	SeriesUID      string
	Modality       string // "-" writes none
	ViewPosition   string
	Manufacturer   string
	PixelSpacing   string // e.g. `0.139\0.139`
	Photometric    string
	Rows, Columns  int
	SamplesPerPixel,
	BitsAllocated, BitsStored, HighBit, PixelRepresentation int
	RescaleSlope, RescaleIntercept string
	WindowCenter, WindowWidth      string
	VOILUTFunction                 string
	NumberOfFrames                 string
	// Pixels is the native pixel data, or for an encapsulated transfer
	// syntax the compressed frame, split into Fragments pieces (default 1).
	Pixels    []byte
	Fragments int
	// NoPixels leaves out the pixel data element.
	NoPixels bool
	// Extra elements (sequences, private tags, ...).
	Extra []Element
	// NoIdentifiers leaves out the patient and institution identifiers.
	NoIdentifiers bool
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Bytes encodes the file.
func (f File) Bytes() []byte {
	ts := or(f.TransferSyntax, ExplicitVRLittleEndian)
	rows, cols := or(f.Rows, 64), or(f.Columns, 64)
	ba := or(f.BitsAllocated, 8)
	bs := or(f.BitsStored, ba)
	hb := or(f.HighBit, bs-1)
	sop := or(f.SOPInstanceUID, "1.2.826.0.1.3680043.8.498.1001")
	cls := or(f.SOPClassUID, DXForPresentation)
	pixels := f.Pixels
	if pixels == nil && !f.NoPixels {
		pixels = make([]byte, rows*cols*(ba/8))
		for i := range pixels {
			pixels[i] = byte(i * 7)
		}
	}
	el := []Element{
		Str(0x0008_0005, "CS", "ISO_IR 100"),
		Str(0x0008_0016, "UI", cls),
		Str(0x0008_0018, "UI", sop),
		Str(0x0008_0020, "DA", "20240102"),
		Str(0x0008_0070, "LO", or(f.Manufacturer, "Example Medical")),
		Str(0x0018_5101, "CS", or(f.ViewPosition, "PA")),
		Str(0x0020_000D, "UI", or(f.StudyUID, "1.2.826.0.1.3680043.8.498.2001")),
		Str(0x0020_000E, "UI", or(f.SeriesUID, "1.2.826.0.1.3680043.8.498.3001")),
		US(0x0028_0002, or(f.SamplesPerPixel, 1)),
		Str(0x0028_0004, "CS", or(f.Photometric, "MONOCHROME2")),
		US(0x0028_0010, rows),
		US(0x0028_0011, cols),
		US(0x0028_0100, ba),
		US(0x0028_0101, bs),
		US(0x0028_0102, hb),
		US(0x0028_0103, f.PixelRepresentation),
	}
	if m := or(f.Modality, "DX"); m != "-" {
		el = append(el, Str(0x0008_0060, "CS", m))
	}
	if !f.NoIdentifiers {
		el = append(el,
			Str(0x0008_0050, "SH", AccessionNumber),
			Str(0x0008_0080, "LO", InstitutionName),
			Str(0x0008_0090, "PN", ReferringPhys),
			Str(0x0010_0010, "PN", PatientName),
			Str(0x0010_0020, "LO", PatientID),
			Str(0x0010_0030, "DA", PatientBirthDate),
			Str(0x0010_1040, "LO", PatientAddress),
		)
	}
	for _, o := range []struct {
		tag   uint32
		vr, v string
	}{
		{0x0028_0030, "DS", f.PixelSpacing}, {0x0028_0008, "IS", f.NumberOfFrames},
		{0x0028_1050, "DS", f.WindowCenter}, {0x0028_1051, "DS", f.WindowWidth},
		{0x0028_1052, "DS", f.RescaleIntercept}, {0x0028_1053, "DS", f.RescaleSlope},
		{0x0028_1056, "CS", f.VOILUTFunction},
	} {
		if o.v != "" {
			el = append(el, Str(o.tag, o.vr, o.v))
		}
	}
	el = append(el, f.Extra...)
	slices.SortStableFunc(el, func(a, b Element) int { return cmp.Compare(a.Tag, b.Tag) })

	var buf bytes.Buffer
	buf.Write(make([]byte, 128))
	buf.WriteString("DICM")
	var meta bytes.Buffer
	for _, e := range []Element{
		{Tag: 0x0002_0001, VR: "OB", Value: []byte{0, 1}},
		Str(0x0002_0002, "UI", cls),
		Str(0x0002_0003, "UI", sop),
		Str(0x0002_0010, "UI", ts),
		Str(0x0002_0012, "UI", "1.2.826.0.1.3680043.8.498.1"),
	} {
		writeElement(&meta, e, true)
	}
	writeElement(&buf, Element{Tag: 0x0002_0000, VR: "UL", Value: binary.LittleEndian.AppendUint32(nil, uint32(meta.Len()))}, true)
	buf.Write(meta.Bytes())

	explicit := ts != ImplicitVRLittleEndian
	for _, e := range el {
		writeElement(&buf, e, explicit)
	}
	if !f.NoPixels {
		if ts == ImplicitVRLittleEndian || ts == ExplicitVRLittleEndian {
			vr := "OW"
			if ba == 8 {
				vr = "OB"
			}
			writeElement(&buf, Element{Tag: 0x7FE0_0010, VR: vr, Value: pixels}, explicit)
		} else {
			writeEncapsulated(&buf, pixels, or(f.Fragments, 1))
		}
	}
	return buf.Bytes()
}

func pad(e Element) []byte {
	v := e.Value
	if len(v)%2 == 0 {
		return v
	}
	p := byte(' ')
	if e.VR == "UI" || e.VR == "OB" || e.VR == "UN" {
		p = 0
	}
	return append(slices.Clip(v), p)
}

func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UR", "UT", "UN", "SV", "UV":
		return true
	}
	return false
}

func writeTag(w *bytes.Buffer, tag uint32) {
	_ = binary.Write(w, binary.LittleEndian, uint16(tag>>16))
	_ = binary.Write(w, binary.LittleEndian, uint16(tag))
}

func writeElement(w *bytes.Buffer, e Element, explicit bool) {
	if e.Items != nil {
		writeSequence(w, e, explicit)
		return
	}
	v := pad(e)
	writeTag(w, e.Tag)
	if !explicit {
		_ = binary.Write(w, binary.LittleEndian, uint32(len(v)))
	} else {
		w.WriteString(e.VR)
		if longVR(e.VR) {
			w.Write([]byte{0, 0})
			_ = binary.Write(w, binary.LittleEndian, uint32(len(v)))
		} else {
			_ = binary.Write(w, binary.LittleEndian, uint16(len(v)))
		}
	}
	w.Write(v)
}

func writeSequence(w *bytes.Buffer, e Element, explicit bool) {
	var body bytes.Buffer
	for _, item := range e.Items {
		var ib bytes.Buffer
		for _, sub := range item {
			writeElement(&ib, sub, explicit)
		}
		writeTag(&body, 0xFFFE_E000)
		if e.Undefined {
			_ = binary.Write(&body, binary.LittleEndian, uint32(0xFFFFFFFF))
			body.Write(ib.Bytes())
			writeTag(&body, 0xFFFE_E00D)
			_ = binary.Write(&body, binary.LittleEndian, uint32(0))
		} else {
			_ = binary.Write(&body, binary.LittleEndian, uint32(ib.Len()))
			body.Write(ib.Bytes())
		}
	}
	length := uint32(body.Len())
	if e.Undefined {
		writeTag(&body, 0xFFFE_E0DD)
		_ = binary.Write(&body, binary.LittleEndian, uint32(0))
		length = 0xFFFFFFFF
	}
	writeTag(w, e.Tag)
	if explicit {
		w.WriteString("SQ")
		w.Write([]byte{0, 0})
	}
	_ = binary.Write(w, binary.LittleEndian, length)
	w.Write(body.Bytes())
}

func writeEncapsulated(w *bytes.Buffer, frame []byte, fragments int) {
	writeTag(w, 0x7FE0_0010)
	w.WriteString("OB")
	w.Write([]byte{0, 0})
	_ = binary.Write(w, binary.LittleEndian, uint32(0xFFFFFFFF))
	// Empty basic offset table.
	writeTag(w, 0xFFFE_E000)
	_ = binary.Write(w, binary.LittleEndian, uint32(0))
	size := (len(frame) + fragments - 1) / max(fragments, 1)
	size += size % 2
	for start := 0; start < len(frame); start += size {
		frag := frame[start:min(start+size, len(frame))]
		if len(frag)%2 == 1 {
			frag = append(slices.Clip(frag), 0)
		}
		writeTag(w, 0xFFFE_E000)
		_ = binary.Write(w, binary.LittleEndian, uint32(len(frag)))
		w.Write(frag)
	}
	writeTag(w, 0xFFFE_E0DD)
	_ = binary.Write(w, binary.LittleEndian, uint32(0))
}

// Gray8 returns w*h 8-bit pixels from f.
func Gray8(w, h int, f func(x, y int) uint8) []byte {
	out := make([]byte, w*h)
	for y := range h {
		for x := range w {
			out[y*w+x] = f(x, y)
		}
	}
	return out
}

// Gray16 returns w*h 16-bit little-endian pixels from f.
func Gray16(w, h int, f func(x, y int) uint16) []byte {
	out := make([]byte, 2*w*h)
	for y := range h {
		for x := range w {
			binary.LittleEndian.PutUint16(out[2*(y*w+x):], f(x, y))
		}
	}
	return out
}

// JPEG encodes img as a baseline JPEG at quality q.
func JPEG(tb testing.TB, img image.Image, q int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// GrayImage returns a w x h test radiograph: a vertical gradient with two
// darker lung fields, deterministic.
func GrayImage(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := 60 + 150*y/max(h-1, 1)
			dx, dy := (x-w/4)*(x-w/4), (y-h/2)*(y-h/2)
			dx2 := (x - 3*w/4) * (x - 3*w/4)
			if dx+dy < w*w/25 || dx2+dy < w*w/25 {
				v -= 40
			}
			img.Pix[y*w+x] = uint8(v + (x*13+y*7)%9)
		}
	}
	return img
}
