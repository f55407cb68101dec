package dicom

import (
	"encoding/binary"
	"fmt"
)

// Tags (group<<16 | element) this package reads. Only these top-level
// attributes are looked at; everything else, including every identifier of
// the confidentiality profile, is skipped without being copied.
const (
	tagMetaSOPClassUID     = 0x0002_0002
	tagMetaSOPInstanceUID  = 0x0002_0003
	tagTransferSyntaxUID   = 0x0002_0010
	tagSOPClassUID         = 0x0008_0016
	tagSOPInstanceUID      = 0x0008_0018
	tagModality            = 0x0008_0060
	tagManufacturer        = 0x0008_0070
	tagPatientID           = 0x0010_0020
	tagViewPosition        = 0x0018_5101
	tagStudyInstanceUID    = 0x0020_000D
	tagSeriesInstanceUID   = 0x0020_000E
	tagSamplesPerPixel     = 0x0028_0002
	tagPhotometric         = 0x0028_0004
	tagNumberOfFrames      = 0x0028_0008
	tagRows                = 0x0028_0010
	tagColumns             = 0x0028_0011
	tagPixelSpacing        = 0x0028_0030
	tagBitsAllocated       = 0x0028_0100
	tagBitsStored          = 0x0028_0101
	tagHighBit             = 0x0028_0102
	tagPixelRepresentation = 0x0028_0103
	tagWindowCenter        = 0x0028_1050
	tagWindowWidth         = 0x0028_1051
	tagRescaleIntercept    = 0x0028_1052
	tagRescaleSlope        = 0x0028_1053
	tagVOILUTFunction      = 0x0028_1056
	tagPixelData           = 0x7FE0_0010

	tagItem          = 0xFFFE_E000
	tagItemDelim     = 0xFFFE_E00D
	tagSequenceDelim = 0xFFFE_E0DD
)

// tagNames names the attributes read, for error messages.
var tagNames = map[uint32]string{
	tagTransferSyntaxUID:   "TransferSyntaxUID (0002,0010)",
	tagSOPClassUID:         "SOPClassUID (0008,0016)",
	tagSOPInstanceUID:      "SOPInstanceUID (0008,0018)",
	tagModality:            "Modality (0008,0060)",
	tagStudyInstanceUID:    "StudyInstanceUID (0020,000D)",
	tagSeriesInstanceUID:   "SeriesInstanceUID (0020,000E)",
	tagSamplesPerPixel:     "SamplesPerPixel (0028,0002)",
	tagPhotometric:         "PhotometricInterpretation (0028,0004)",
	tagNumberOfFrames:      "NumberOfFrames (0028,0008)",
	tagRows:                "Rows (0028,0010)",
	tagColumns:             "Columns (0028,0011)",
	tagBitsAllocated:       "BitsAllocated (0028,0100)",
	tagBitsStored:          "BitsStored (0028,0101)",
	tagHighBit:             "HighBit (0028,0102)",
	tagPixelRepresentation: "PixelRepresentation (0028,0103)",
	tagWindowCenter:        "WindowCenter (0028,1050)",
	tagWindowWidth:         "WindowWidth (0028,1051)",
	tagRescaleIntercept:    "RescaleIntercept (0028,1052)",
	tagRescaleSlope:        "RescaleSlope (0028,1053)",
	tagPixelData:           "PixelData (7FE0,0010)",
}

func tagName(t uint32) string {
	if n, ok := tagNames[t]; ok {
		return n
	}
	return tagString(t)
}

func tagString(t uint32) string { return fmt.Sprintf("(%04X,%04X)", t>>16, t&0xFFFF) }

// wanted lists the top-level attributes kept in a dataset.
var wanted = map[uint32]bool{
	tagSOPClassUID: true, tagSOPInstanceUID: true, tagModality: true, tagManufacturer: true,
	tagPatientID: true, tagViewPosition: true, tagStudyInstanceUID: true, tagSeriesInstanceUID: true,
	tagSamplesPerPixel: true, tagPhotometric: true, tagNumberOfFrames: true, tagRows: true,
	tagColumns: true, tagPixelSpacing: true, tagBitsAllocated: true, tagBitsStored: true,
	tagHighBit: true, tagPixelRepresentation: true, tagWindowCenter: true, tagWindowWidth: true,
	tagRescaleIntercept: true, tagRescaleSlope: true, tagVOILUTFunction: true,
}

const (
	preambleLen = 128
	magic       = "DICM"
	// maxDepth bounds the nesting of sequences skipped (real files nest a
	// few levels); deeper input is rejected instead of recursing on.
	maxDepth = 16
	// maxFragments bounds the encapsulated pixel data items kept.
	maxFragments    = 1 << 14
	undefinedLength = 0xFFFF_FFFF
)

// IsDICOM reports whether data starts like a DICOM Part 10 file: a 128-byte
// preamble and "DICM".
func IsDICOM(data []byte) bool {
	return len(data) >= preambleLen+4 && string(data[preambleLen:preambleLen+4]) == magic
}

// dataset holds the values of the wanted attributes as sub-slices of the
// input (nothing is copied) and where the pixel data is.
type dataset struct {
	syntax    string
	values    map[uint32][]byte
	pixels    []byte   // native pixel data
	fragments [][]byte // encapsulated pixel data items after the basic offset table
	encaps    bool
	hasPixels bool
}

func (d *dataset) has(t uint32) bool { _, ok := d.values[t]; return ok }

// longVR reports whether an explicit VR has the 4-byte length form.
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UR", "UT", "UN", "SV", "UV":
		return true
	}
	return false
}

// header is an element header.
type header struct {
	tag    uint32
	vr     string // "" when implicit
	length uint32
	size   int // bytes of the header
}

// readHeader reads the element header at pos. Item and delimitation tags are
// always encoded with an implicit header (tag, 4-byte length).
func readHeader(data []byte, pos int, explicit bool) (header, error) {
	if pos+8 > len(data) {
		return header{}, malformed(FieldFile, "truncated element header at byte %d (file is %d bytes)", pos, len(data))
	}
	g := binary.LittleEndian.Uint16(data[pos:])
	e := binary.LittleEndian.Uint16(data[pos+2:])
	h := header{tag: uint32(g)<<16 | uint32(e)}
	if !explicit || g == 0xFFFE {
		h.length = binary.LittleEndian.Uint32(data[pos+4:])
		h.size = 8
		return h, nil
	}
	vr := data[pos+4 : pos+6]
	if vr[0] < 'A' || vr[0] > 'Z' || vr[1] < 'A' || vr[1] > 'Z' {
		return header{}, malformed(FieldFile, "element %s at byte %d: value representation % x is not two capital letters", tagString(h.tag), pos, vr)
	}
	h.vr = string(vr)
	if longVR(h.vr) {
		if pos+12 > len(data) {
			return header{}, malformed(FieldFile, "truncated element header at byte %d (file is %d bytes)", pos, len(data))
		}
		h.length = binary.LittleEndian.Uint32(data[pos+8:])
		h.size = 12
	} else {
		h.length = uint32(binary.LittleEndian.Uint16(data[pos+6:]))
		h.size = 8
	}
	return h, nil
}

// value returns the defined-length value after h at pos, checking bounds.
func value(data []byte, pos int, h header) ([]byte, error) {
	start := pos + h.size
	if uint64(h.length) > uint64(len(data)-start) {
		return nil, malformed(FieldFile, "element %s at byte %d: value of %d bytes runs past the end of the file (%d bytes)", tagName(h.tag), pos, h.length, len(data))
	}
	return data[start : start+int(h.length)], nil
}

// readMeta reads the file meta information (group 0002, explicit VR little
// endian) after the preamble. It returns the position of the data set.
func readMeta(data []byte, d *dataset) (int, error) {
	if !IsDICOM(data) {
		n := min(len(data), 8)
		return 0, newError(ErrNotDICOM, FieldFile, "", "not a DICOM Part 10 file: no \"DICM\" after the 128-byte preamble (%d bytes, starts with % x)", len(data), data[:n])
	}
	pos := preambleLen + 4
	for pos+4 <= len(data) && binary.LittleEndian.Uint16(data[pos:]) == 0x0002 {
		h, err := readHeader(data, pos, true)
		if err != nil {
			return 0, err
		}
		if h.length == undefinedLength {
			return 0, malformed(FieldFile, "file meta element %s has an undefined length", tagString(h.tag))
		}
		v, err := value(data, pos, h)
		if err != nil {
			return 0, err
		}
		switch h.tag {
		case tagTransferSyntaxUID, tagMetaSOPClassUID, tagMetaSOPInstanceUID:
			d.values[h.tag] = v
		}
		pos += h.size + len(v)
	}
	ts, ok := d.values[tagTransferSyntaxUID]
	if !ok {
		return 0, malformed(FieldTransferSyntax, "the file meta information has no TransferSyntaxUID (0002,0010)")
	}
	d.syntax = trimValue(ts)
	return pos, nil
}

// readDataset walks the top-level elements from pos, keeping the wanted
// attributes and locating the pixel data, and stops after the pixel data.
// Sequences are skipped without keeping anything from them.
func readDataset(data []byte, pos int, explicit bool, d *dataset) error {
	for pos < len(data) {
		h, err := readHeader(data, pos, explicit)
		if err != nil {
			return err
		}
		switch {
		case h.tag == tagPixelData:
			return readPixelData(data, pos, h, d)
		case h.tag>>16 == 0xFFFE:
			return malformed(FieldFile, "unexpected item tag %s at byte %d outside a sequence", tagString(h.tag), pos)
		case h.length == undefinedLength:
			// A sequence (SQ, UN, or any undefined length in implicit VR).
			// UN content is encoded in implicit VR little endian.
			nested := explicit && h.vr != "UN"
			if explicit && h.vr != "SQ" && h.vr != "UN" {
				return malformed(FieldFile, "element %s at byte %d: VR %s cannot have an undefined length", tagString(h.tag), pos, h.vr)
			}
			end, err := skipSequence(data, pos+h.size, nested, 1)
			if err != nil {
				return err
			}
			pos = end
			continue
		}
		v, err := value(data, pos, h)
		if err != nil {
			return err
		}
		if wanted[h.tag] {
			d.values[h.tag] = v
		}
		pos += h.size + len(v)
	}
	return nil
}

// skipSequence skips the items of an undefined-length sequence starting at
// pos and returns the position after its delimitation item.
func skipSequence(data []byte, pos int, explicit bool, depth int) (int, error) {
	if depth > maxDepth {
		return 0, malformed(FieldFile, "sequences nested more than %d deep at byte %d", maxDepth, pos)
	}
	for {
		h, err := readHeader(data, pos, explicit)
		if err != nil {
			return 0, err
		}
		switch h.tag {
		case tagSequenceDelim:
			return pos + 8, nil
		case tagItem:
		default:
			return 0, malformed(FieldFile, "sequence item expected at byte %d, found %s", pos, tagString(h.tag))
		}
		pos += 8
		if h.length != undefinedLength {
			if uint64(h.length) > uint64(len(data)-pos) {
				return 0, malformed(FieldFile, "sequence item at byte %d of %d bytes runs past the end of the file", pos-8, h.length)
			}
			pos += int(h.length)
			continue
		}
		if pos, err = skipItem(data, pos, explicit, depth); err != nil {
			return 0, err
		}
	}
}

// skipItem skips the elements of an undefined-length item up to and
// including its delimitation item.
func skipItem(data []byte, pos int, explicit bool, depth int) (int, error) {
	for {
		h, err := readHeader(data, pos, explicit)
		if err != nil {
			return 0, err
		}
		switch {
		case h.tag == tagItemDelim:
			return pos + 8, nil
		case h.tag>>16 == 0xFFFE:
			return 0, malformed(FieldFile, "unexpected item tag %s at byte %d inside a sequence item", tagString(h.tag), pos)
		case h.length == undefinedLength:
			nested := explicit && h.vr != "UN"
			end, err := skipSequence(data, pos+h.size, nested, depth+1)
			if err != nil {
				return 0, err
			}
			pos = end
			continue
		}
		v, err := value(data, pos, h)
		if err != nil {
			return 0, err
		}
		pos += h.size + len(v)
	}
}

// readPixelData records native pixel data (defined length) or the items of
// encapsulated pixel data (undefined length: a basic offset table item, then
// one or more fragments, then a sequence delimitation item).
func readPixelData(data []byte, pos int, h header, d *dataset) error {
	d.hasPixels = true
	if h.length != undefinedLength {
		v, err := value(data, pos, h)
		if err != nil {
			return err
		}
		d.pixels = v
		return nil
	}
	d.encaps = true
	pos += h.size
	first := true
	for {
		ih, err := readHeader(data, pos, false)
		if err != nil {
			return err
		}
		pos += 8
		switch ih.tag {
		case tagSequenceDelim:
			return nil
		case tagItem:
		default:
			return malformed(FieldPixels, "encapsulated pixel data: item expected at byte %d, found %s", pos-8, tagString(ih.tag))
		}
		if ih.length == undefinedLength || uint64(ih.length) > uint64(len(data)-pos) {
			return malformed(FieldPixels, "encapsulated pixel data: item at byte %d has length %d, past the end of the file (%d bytes)", pos-8, ih.length, len(data))
		}
		frag := data[pos : pos+int(ih.length)]
		pos += int(ih.length)
		if first { // the basic offset table
			first = false
			continue
		}
		if len(d.fragments) == maxFragments {
			return malformed(FieldPixels, "encapsulated pixel data has more than %d fragments", maxFragments)
		}
		d.fragments = append(d.fragments, frag)
	}
}
