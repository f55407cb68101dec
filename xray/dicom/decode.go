package dicom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/healthcare-ai/platform/xray/preprocess"
)

// DefaultMaxSide is the default bound on Rows and Columns.
const DefaultMaxSide = 8192

// DefaultModalities are the modalities of chest radiographs: computed and
// digital radiography.
var DefaultModalities = []string{"CR", "DX"}

// Options tune Decode and ReadAttributes. The zero value is usable.
type Options struct {
	// PatientKey turns the file's PatientID into the pseudonymous key kept
	// in Attributes.PatientKey (the ingestor passes its salted HMAC,
	// ingestor.PatientKey). Nil keeps no patient key. It is not called for
	// an empty PatientID. The raw PatientID never leaves this package.
	PatientKey func(patientID string) string
	// MaxSide bounds Rows and Columns (default DefaultMaxSide): a larger
	// image is rejected with ErrTooLarge before any pixel buffer is
	// allocated.
	MaxSide int
	// Modalities lists the accepted values of Modality (default
	// DefaultModalities); any other value, or none, is ErrUnsupported.
	Modalities []string
}

func (o Options) withDefaults() Options {
	if o.MaxSide <= 0 {
		o.MaxSide = DefaultMaxSide
	}
	if len(o.Modalities) == 0 {
		o.Modalities = DefaultModalities
	}
	return o
}

// Attributes are the only attributes of a file that this package returns:
// the ones the platform keeps. The direct identifiers of the DICOM basic
// confidentiality profile (patient name, birth date, address, accession
// number, institution, physicians, operators, dates and times, free-text
// comments, ...) are never read. The UIDs are kept to link a prediction back
// to the PACS study: they are pseudonymous identifiers, so the tables that
// hold them are not anonymous.
type Attributes struct {
	// PatientKey is Options.PatientKey(PatientID), or "" without one.
	PatientKey        string `json:"patient_key,omitempty"`
	StudyInstanceUID  string `json:"study_instance_uid,omitempty"`
	SeriesInstanceUID string `json:"series_instance_uid,omitempty"`
	SOPInstanceUID    string `json:"sop_instance_uid,omitempty"`
	SOPClassUID       string `json:"sop_class_uid,omitempty"`
	Modality          string `json:"modality,omitempty"`
	ViewPosition      string `json:"view_position,omitempty"`
	Manufacturer      string `json:"manufacturer,omitempty"`
	// PixelSpacing is (0028,0030) in mm: the spacing between rows, then
	// between columns. Nil when absent or not two positive numbers.
	PixelSpacing      []float64 `json:"pixel_spacing,omitempty"`
	TransferSyntaxUID string    `json:"transfer_syntax_uid,omitempty"`
}

// Image is a decoded DICOM image.
type Image struct {
	// Gray is the first frame as 8-bit grayscale, bright = dense (MONOCHROME1
	// is inverted), ready for xray/preprocess. Its Rect starts at (0, 0) and
	// its Stride is its width.
	Gray *image.Gray
	Attributes
	// Photometric is the file's PhotometricInterpretation.
	Photometric   string
	BitsAllocated int
	BitsStored    int
	Signed        bool
	// Frames is NumberOfFrames (1 when absent); only the first is decoded.
	Frames int
	// Mapping says how stored values became 8-bit values, e.g.
	// "window 40/400 LINEAR", "min-max 12..4011", "identity".
	Mapping string
}

// parse reads the meta information and the data set. For a transfer syntax
// whose data set cannot be read (deflated, big endian) it returns the
// unsupported syntax error at once.
func parse(data []byte, opts Options) (*dataset, Attributes, error) {
	d := &dataset{values: map[uint32][]byte{}}
	pos, err := readMeta(data, d)
	if err != nil {
		return nil, Attributes{}, err
	}
	attrs := Attributes{
		SOPClassUID:       trimValue(d.values[tagMetaSOPClassUID]),
		SOPInstanceUID:    trimValue(d.values[tagMetaSOPInstanceUID]),
		TransferSyntaxUID: d.syntax,
	}
	if !validUID(attrs.SOPClassUID) {
		attrs.SOPClassUID = ""
	}
	if !validUID(attrs.SOPInstanceUID) {
		attrs.SOPInstanceUID = ""
	}
	if d.syntax != ImplicitVRLittleEndian && !explicitLE(d.syntax) {
		return nil, attrs, unsupportedSyntax(d.syntax, attrs)
	}
	if err := readDataset(data, pos, d.syntax != ImplicitVRLittleEndian, d); err != nil {
		if !supportedSyntax(d.syntax) {
			// Read as explicit VR little endian on the chance that it is an
			// encapsulated syntax; the syntax is what to report.
			return nil, attrs, unsupportedSyntax(d.syntax, attrs)
		}
		var e *Error
		if errors.As(err, &e) {
			e.Attributes = attrs
		}
		return nil, attrs, err
	}
	attrs, err = d.attributes(attrs, opts)
	return d, attrs, err
}

func unsupportedSyntax(uid string, attrs Attributes) error {
	e := newError(ErrUnsupported, FieldTransferSyntax, uid,
		"transfer syntax %s is not supported (supported: %s)", describeSyntax(uid), supportedSyntaxList())
	e.Attributes = attrs
	return e
}

// attributes fills the kept attributes from the data set; the data set's
// SOP UIDs take precedence over the meta information's.
func (d *dataset) attributes(a Attributes, opts Options) (Attributes, error) {
	uids := []struct {
		tag uint32
		dst *string
	}{
		{tagSOPClassUID, &a.SOPClassUID}, {tagSOPInstanceUID, &a.SOPInstanceUID},
		{tagStudyInstanceUID, &a.StudyInstanceUID}, {tagSeriesInstanceUID, &a.SeriesInstanceUID},
	}
	for _, u := range uids {
		v, ok := d.values[u.tag]
		if !ok {
			continue
		}
		s := trimValue(v)
		if s == "" {
			continue
		}
		if !validUID(s) {
			e := malformed(tagName(u.tag), "%s %q is not a valid UID (digits and dots, at most 64 characters)", tagName(u.tag), truncate(s, 80))
			e.Attributes = a
			return a, e
		}
		*u.dst = s
	}
	a.Modality = codeString(d.values[tagModality])
	a.ViewPosition = codeString(d.values[tagViewPosition])
	a.Manufacturer = text(d.values[tagManufacturer], 64)
	if ps, err := decimals(d.values[tagPixelSpacing]); err == nil && len(ps) == 2 && ps[0] > 0 && ps[1] > 0 {
		a.PixelSpacing = ps
	}
	if id := text(d.values[tagPatientID], 256); id != "" && opts.PatientKey != nil {
		a.PatientKey = opts.PatientKey(id)
	}
	return a, nil
}

// ReadAttributes reads the kept attributes without decoding the pixel data
// and without checking modality or pixel module: a cheap look at a file, for
// instance to name it in a response. Errors are *Error; for an unsupported
// transfer syntax the attributes read so far are returned with the error.
func ReadAttributes(data []byte, opts Options) (Attributes, error) {
	_, attrs, err := parse(data, opts.withDefaults())
	return attrs, err
}

// Decode decodes a DICOM Part 10 chest radiograph: it checks the modality,
// the transfer syntax and the image pixel module, then maps the first frame
// to 8-bit grayscale (see the package doc). Every error is an *Error
// wrapping one of the Err* kinds.
func Decode(data []byte, opts Options) (*Image, error) {
	opts = opts.withDefaults()
	d, attrs, err := parse(data, opts)
	if err != nil {
		return nil, err
	}
	fail := func(e *Error) (*Image, error) {
		e.Attributes = attrs
		return nil, e
	}
	if !slices.Contains(opts.Modalities, attrs.Modality) {
		if attrs.Modality == "" {
			return fail(newError(ErrUnsupported, FieldModality, "", "modality missing: Modality (0008,0060) must be one of %s (chest radiographs)", strings.Join(opts.Modalities, ", ")))
		}
		return fail(newError(ErrUnsupported, FieldModality, attrs.Modality, "modality %q is not supported: must be one of %s (chest radiographs)", attrs.Modality, strings.Join(opts.Modalities, ", ")))
	}
	if !supportedSyntax(d.syntax) {
		return fail(unsupportedSyntax(d.syntax, attrs).(*Error))
	}
	px, e := d.pixelModule(opts)
	if e != nil {
		return fail(e)
	}
	img := &Image{Attributes: attrs, Photometric: px.photometric, BitsAllocated: px.bitsAllocated, BitsStored: px.bitsStored, Signed: px.signed, Frames: px.frames}
	if d.encaps {
		e = decodeJPEG(d, px, img)
	} else {
		e = decodeNative(d, px, img)
	}
	if e != nil {
		return fail(e)
	}
	return img, nil
}

// pixelModule holds the checked attributes of the image pixel module and the
// modality and VOI transforms.
type pixelModule struct {
	rows, cols    int
	samples       int
	photometric   string
	bitsAllocated int
	bitsStored    int
	highBit       int
	signed        bool
	frames        int
	slope, icept  float64
	window        bool
	center, width float64
	voiFunction   string
}

func (d *dataset) us(t uint32) (int, bool, *Error) {
	v, ok := d.values[t]
	if !ok || len(v) == 0 {
		return 0, false, nil
	}
	if len(v) < 2 {
		return 0, false, malformed(tagName(t), "%s has %d bytes, want 2 (US)", tagName(t), len(v))
	}
	return int(binary.LittleEndian.Uint16(v)), true, nil
}

func (d *dataset) pixelModule(opts Options) (pixelModule, *Error) {
	var p pixelModule
	if !d.hasPixels {
		return p, malformed(FieldPixels, "no PixelData (7FE0,0010): the file holds no image")
	}
	get := func(t uint32, def int, required bool) (int, *Error) {
		n, ok, e := d.us(t)
		if e != nil {
			return 0, e
		}
		if !ok {
			if required {
				return 0, malformed(tagName(t), "%s missing", tagName(t))
			}
			return def, nil
		}
		return n, nil
	}
	var e *Error
	if p.rows, e = get(tagRows, 0, true); e != nil {
		return p, e
	}
	if p.cols, e = get(tagColumns, 0, true); e != nil {
		return p, e
	}
	if p.rows == 0 || p.cols == 0 {
		return p, malformed(FieldDimensions, "image is %dx%d pixels (Columns x Rows): both must be positive", p.cols, p.rows)
	}
	if p.rows > opts.MaxSide || p.cols > opts.MaxSide {
		return p, newError(ErrTooLarge, FieldDimensions, fmt.Sprintf("%dx%d", p.cols, p.rows),
			"image is %dx%d pixels (Columns x Rows), more than the maximum of %d per side", p.cols, p.rows, opts.MaxSide)
	}
	if p.samples, e = get(tagSamplesPerPixel, 1, false); e != nil {
		return p, e
	}
	if p.bitsAllocated, e = get(tagBitsAllocated, 0, true); e != nil {
		return p, e
	}
	if p.bitsStored, e = get(tagBitsStored, p.bitsAllocated, false); e != nil {
		return p, e
	}
	if p.highBit, e = get(tagHighBit, p.bitsStored-1, false); e != nil {
		return p, e
	}
	rep, e := get(tagPixelRepresentation, 0, false)
	if e != nil {
		return p, e
	}
	p.signed = rep == 1
	p.photometric = codeString(d.values[tagPhotometric])
	if p.photometric == "" {
		return p, malformed(FieldPhotometric, "PhotometricInterpretation (0028,0004) missing")
	}
	p.frames = 1
	if v, ok := d.values[tagNumberOfFrames]; ok && trimValue(v) != "" {
		n, err := strconv.Atoi(trimValue(v))
		if err != nil || n < 1 {
			return p, malformed(tagName(tagNumberOfFrames), "NumberOfFrames (0028,0008) %q: must be a positive integer", truncate(trimValue(v), 20))
		}
		p.frames = n
	}

	if d.encaps {
		// JPEG baseline: 8-bit samples, gray or YCbCr/RGB (converted to luma).
		if p.bitsAllocated != 8 || p.bitsStored != 8 {
			return p, newError(ErrMalformed, tagName(tagBitsStored), strconv.Itoa(p.bitsStored),
				"malformed DICOM: JPEG baseline pixel data must have 8 bits allocated and stored, file says %d and %d", p.bitsAllocated, p.bitsStored)
		}
		switch {
		case p.samples == 1 && isMonochrome(p.photometric):
		case p.samples == 3 && (p.photometric == "YBR_FULL_422" || p.photometric == "YBR_FULL" || p.photometric == "RGB"):
		default:
			return p, newError(ErrUnsupported, FieldPhotometric, p.photometric,
				"photometric interpretation %q with %d samples per pixel is not supported for JPEG baseline (supported: MONOCHROME1, MONOCHROME2, or YBR_FULL_422, YBR_FULL, RGB converted to gray)", p.photometric, p.samples)
		}
	} else {
		if p.samples != 1 || !isMonochrome(p.photometric) {
			return p, newError(ErrUnsupported, FieldPhotometric, p.photometric,
				"photometric interpretation %q with %d samples per pixel is not supported (supported: MONOCHROME1 and MONOCHROME2, 1 sample per pixel)", p.photometric, p.samples)
		}
		if p.bitsAllocated != 8 && p.bitsAllocated != 16 {
			return p, newError(ErrUnsupported, tagName(tagBitsAllocated), strconv.Itoa(p.bitsAllocated),
				"BitsAllocated (0028,0100) %d is not supported (supported: 8 and 16)", p.bitsAllocated)
		}
	}
	if p.bitsStored < 1 || p.bitsStored > p.bitsAllocated || p.highBit < p.bitsStored-1 || p.highBit >= p.bitsAllocated {
		return p, malformed(tagName(tagBitsStored), "BitsStored %d and HighBit %d do not fit BitsAllocated %d", p.bitsStored, p.highBit, p.bitsAllocated)
	}
	if rep > 1 {
		return p, malformed(tagName(tagPixelRepresentation), "PixelRepresentation (0028,0103) %d: must be 0 (unsigned) or 1 (signed)", rep)
	}

	// Modality LUT: rescale slope and intercept.
	p.slope, p.icept = 1, 0
	for _, r := range []struct {
		tag uint32
		dst *float64
	}{{tagRescaleSlope, &p.slope}, {tagRescaleIntercept, &p.icept}} {
		if v, ok := d.values[r.tag]; ok && trimValue(v) != "" {
			f, err := decimals(v)
			if err != nil || len(f) == 0 {
				return p, malformed(tagName(r.tag), "%s %q: not a decimal number", tagName(r.tag), truncate(trimValue(v), 40))
			}
			*r.dst = f[0]
		}
	}
	if p.slope == 0 {
		return p, malformed(tagName(tagRescaleSlope), "RescaleSlope (0028,1053) is 0: every pixel would have the same value")
	}

	// VOI LUT: the first window, if usable.
	cv, cok := d.values[tagWindowCenter]
	wv, wok := d.values[tagWindowWidth]
	if cok && wok && trimValue(cv) != "" && trimValue(wv) != "" {
		c, err1 := decimals(cv)
		w, err2 := decimals(wv)
		if err1 != nil || err2 != nil || len(c) == 0 || len(w) == 0 {
			return p, malformed(tagName(tagWindowCenter), "WindowCenter %q / WindowWidth %q: not decimal numbers", truncate(trimValue(cv), 40), truncate(trimValue(wv), 40))
		}
		p.voiFunction = codeString(d.values[tagVOILUTFunction])
		switch p.voiFunction {
		case "LINEAR_EXACT", "SIGMOID":
		default:
			p.voiFunction = "LINEAR"
		}
		// A width below the function's minimum defines no window: fall back
		// to the full range, as viewers do.
		if w[0] >= 1 || (p.voiFunction != "LINEAR" && w[0] > 0) {
			p.window, p.center, p.width = true, c[0], w[0]
		}
	}
	return p, nil
}

func isMonochrome(p string) bool { return p == "MONOCHROME1" || p == "MONOCHROME2" }

// decodeNative maps native pixel data through a lookup table indexed by the
// stored value (at most 2^16 entries).
func decodeNative(d *dataset, p pixelModule, img *Image) *Error {
	bytesPer := p.bitsAllocated / 8
	frame := p.rows * p.cols * bytesPer // at most 8192*8192*2
	if len(d.pixels) < frame {
		return malformed(FieldPixels, "PixelData (7FE0,0010) has %d bytes, less than one frame of %dx%d pixels at %d bits (%d bytes)", len(d.pixels), p.cols, p.rows, p.bitsAllocated, frame)
	}
	src := d.pixels[:frame]
	shift := uint(p.highBit + 1 - p.bitsStored)
	mask := uint32(1)<<uint(p.bitsStored) - 1
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	if !p.window && !identityMapping(p) {
		// The range of the stored values present. Flipping the sign bit
		// orders two's complement patterns as unsigned numbers.
		var flip uint32
		if p.signed {
			flip = 1 << uint(p.bitsStored-1)
		}
		kmin, kmax := mask, uint32(0)
		if bytesPer == 1 {
			for _, b := range src {
				k := uint32(b)>>shift&mask ^ flip
				kmin, kmax = min(kmin, k), max(kmax, k)
			}
		} else {
			for i := 0; i+1 < len(src); i += 2 {
				k := (uint32(src[i])|uint32(src[i+1])<<8)>>shift&mask ^ flip
				kmin, kmax = min(kmin, k), max(kmax, k)
			}
		}
		lo, hi = p.stored(kmin^flip), p.stored(kmax^flip)
	}
	lut, mapping := p.lut(lo, hi)
	out := image.NewGray(image.Rect(0, 0, p.cols, p.rows))
	if bytesPer == 1 {
		for i, b := range src {
			out.Pix[i] = lut[uint16(uint32(b)>>shift&mask)]
		}
	} else {
		pix := out.Pix
		src = src[:2*len(pix)]
		for i := range pix {
			j := 2 * i
			pix[i] = lut[uint16((uint32(src[j])|uint32(src[j+1])<<8)>>shift&mask)]
		}
	}
	img.Gray, img.Mapping = out, mapping
	return nil
}

// decodeJPEG decodes the first frame of JPEG baseline pixel data with
// image/jpeg (the exact reference decoder of xray/preprocess), after checking
// its header against Rows and Columns.
func decodeJPEG(d *dataset, p pixelModule, img *Image) *Error {
	if len(d.fragments) == 0 {
		return malformed(FieldPixels, "encapsulated PixelData (7FE0,0010) has no fragments")
	}
	// A single frame may span several fragments; with several frames, the
	// first fragment is taken as the first frame (one fragment per frame).
	data := d.fragments[0]
	if p.frames == 1 && len(d.fragments) > 1 {
		data = bytes.Join(d.fragments, nil)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return malformed(FieldPixels, "JPEG baseline frame header: %v", err)
	}
	if cfg.Width != p.cols || cfg.Height != p.rows {
		return malformed(FieldPixels, "JPEG frame is %dx%d pixels but Columns x Rows say %dx%d", cfg.Width, cfg.Height, p.cols, p.rows)
	}
	dec, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return malformed(FieldPixels, "JPEG baseline frame: %v", err)
	}
	g := preprocess.ToGray(dec)
	lut, mapping := p.lut(0, 255)
	out := image.NewGray(image.Rect(0, 0, p.cols, p.rows))
	b := g.Bounds()
	for y := range p.rows {
		row := g.Pix[g.PixOffset(b.Min.X, b.Min.Y+y):]
		dst := out.Pix[y*out.Stride : y*out.Stride+p.cols]
		for x := range dst {
			dst[x] = lut[row[x]]
		}
	}
	img.Gray, img.Mapping = out, mapping
	return nil
}

// stored returns the value of a stored bit pattern: sign-extended when the
// pixel representation is signed.
func (p pixelModule) stored(idx uint32) int64 {
	v := int64(idx)
	if p.signed && idx&(1<<uint(p.bitsStored-1)) != 0 {
		v -= 1 << uint(p.bitsStored)
	}
	return v
}

// identityMapping reports whether 8-bit unsigned stored values without a
// window or rescale are used as they are (so a DICOM wrapping a JPEG or PNG
// gives exactly that image's pixels, as the models saw in training).
func identityMapping(p pixelModule) bool {
	return p.bitsStored == 8 && !p.signed && p.slope == 1 && p.icept == 0
}

// lut maps every stored bit pattern (of at most 16 bits; the table is
// indexed by uint16 so the hot loops need no bounds check) to an 8-bit value: modality rescale,
// then the VOI window if any, else identity (8-bit, see identityMapping) or
// the min-max of the rescaled values lo..hi (stored values); MONOCHROME1 is
// inverted last.
func (p pixelModule) lut(lo, hi int64) (*[1 << 16]uint8, string) {
	n := 1 << uint(p.bitsStored)
	lut := new([1 << 16]uint8)
	var mapping string
	var f func(x float64) float64 // rescaled value to 0..255
	switch {
	case p.window:
		c, w := p.center, p.width
		mapping = fmt.Sprintf("window %g/%g %s", c, w, p.voiFunction)
		switch p.voiFunction {
		case "LINEAR_EXACT":
			f = func(x float64) float64 {
				switch {
				case x <= c-w/2:
					return 0
				case x > c+w/2:
					return 255
				}
				return ((x-c)/w + 0.5) * 255
			}
		case "SIGMOID":
			f = func(x float64) float64 { return 255 / (1 + math.Exp(-4*(x-c)/w)) }
		default: // LINEAR, PS3.3 C.11.2.1.2.1
			f = func(x float64) float64 {
				switch {
				case x <= c-0.5-(w-1)/2:
					return 0
				case x > c-0.5+(w-1)/2:
					return 255
				}
				return ((x-(c-0.5))/(w-1) + 0.5) * 255
			}
		}
	case identityMapping(p):
		mapping = "identity"
		f = func(x float64) float64 { return x }
	default:
		a, b := float64(lo)*p.slope+p.icept, float64(hi)*p.slope+p.icept
		a, b = min(a, b), max(a, b)
		mapping = fmt.Sprintf("min-max %g..%g", a, b)
		f = func(x float64) float64 {
			if b <= a {
				return 0
			}
			return (x - a) / (b - a) * 255
		}
	}
	for i := range n {
		y := f(float64(p.stored(uint32(i)))*p.slope + p.icept)
		switch {
		case !(y >= 0): // also NaN
			y = 0
		case y > 255:
			y = 255
		}
		v := uint8(math.Round(y))
		if p.photometric == "MONOCHROME1" {
			v = 255 - v
		}
		lut[i] = v
	}
	if p.photometric == "MONOCHROME1" {
		mapping += ", inverted (MONOCHROME1)"
	}
	return lut, mapping
}

// trimValue trims the padding of a string value (trailing NUL and spaces,
// leading spaces).
func trimValue(v []byte) string {
	return strings.Trim(string(v), " \x00")
}

// codeString returns a CS value: trimmed, upper-case letters, digits, space
// and underscore only (anything else makes it ""), at most 16 characters.
func codeString(v []byte) string {
	s := trimValue(v)
	if i := strings.IndexByte(s, '\\'); i >= 0 {
		s = strings.TrimSpace(s[:i]) // first value of a multi-valued CS
	}
	if len(s) > 16 {
		return ""
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ' || r == '_') {
			return ""
		}
	}
	return s
}

// text returns a text value as UTF-8 (ISO 8859-1 when it is not valid
// UTF-8), with control characters replaced by spaces, cut to max runes.
func text(v []byte, max int) string {
	s := trimValue(v)
	if !utf8.ValidString(s) {
		r := make([]rune, len(s))
		for i := range len(s) {
			r[i] = rune(s[i])
		}
		s = string(r)
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return strings.TrimSpace(s)
}

// validUID reports whether s is a UID: 1-64 characters, digits and dots,
// starting and ending with a digit.
func validUID(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// decimals parses a DS (or IS) value: numbers separated by backslashes.
func decimals(v []byte) ([]float64, error) {
	s := trimValue(v)
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, "\\")
	if len(parts) > 16 {
		parts = parts[:16]
	}
	out := make([]float64, 0, len(parts))
	for _, part := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%q: not a finite decimal", part)
		}
		out = append(out, f)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
