//go:build cgo && !noturbojpeg

package turbojpeg

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdlib.h>
#include <turbojpeg.h>

// hap_scale_ok reports whether tjDecompress2, asked for a w x h output of a
// jw x jh image, picks the factor 1/denom: it takes the first (largest) listed
// factor whose TJSCALED size fits, so a bigger factor that gives the same size
// (only possible for images of a few pixels) would win.
static int hap_scale_ok(int jw, int jh, int denom) {
	int n = 0;
	tjscalingfactor *sf = tjGetScalingFactors(&n);
	if (sf == NULL) return 0;
	int w = (jw + denom - 1) / denom, h = (jh + denom - 1) / denom;
	for (int i = 0; i < n; i++) {
		if (TJSCALED(jw, sf[i]) <= w && TJSCALED(jh, sf[i]) <= h) {
			return sf[i].num * denom == sf[i].denom;
		}
	}
	return 0;
}

typedef struct { int rc, w, h, samp, cs; } hap_header_t;

// hap_header wraps tjDecompressHeader3 so that no Go pointer to the outputs
// crosses into C (which would move them to the heap).
static hap_header_t hap_header(tjhandle h, const unsigned char *buf, unsigned long n) {
	hap_header_t r = {0};
	r.rc = tjDecompressHeader3(h, buf, n, &r.w, &r.h, &r.samp, &r.cs);
	return r;
}
*/
import "C"

import (
	"fmt"
	"image"
	"runtime"
	"sync"
	"unsafe"
)

// Available reports whether this build decodes with libjpeg-turbo.
const Available = true

// Decompressor is one TurboJPEG decompressor handle. It is not safe for
// concurrent use; the package-level functions pool them for you.
type Decompressor struct {
	h       C.tjhandle
	cleanup runtime.Cleanup
}

// NewDecompressor allocates a TurboJPEG decompressor. Call Close to free it;
// if it is dropped without Close, the garbage collector frees it.
func NewDecompressor() (*Decompressor, error) {
	h := C.tjInitDecompress()
	if h == nil {
		return nil, &Error{Op: "tjInitDecompress", Msg: C.GoString(C.tjGetErrorStr2(nil))}
	}
	d := &Decompressor{h: h}
	d.cleanup = runtime.AddCleanup(d, func(h C.tjhandle) { C.tjDestroy(h) }, h)
	return d, nil
}

// Close frees the handle. The Decompressor must not be used afterwards.
func (d *Decompressor) Close() error {
	if d.h == nil {
		return nil
	}
	d.cleanup.Stop()
	rc := C.tjDestroy(d.h)
	d.h = nil
	if rc != 0 {
		return &Error{Op: "tjDestroy", Msg: "cannot destroy handle"}
	}
	return nil
}

func (d *Decompressor) err(op string) error {
	return &Error{
		Op:      op,
		Msg:     C.GoString(C.tjGetErrorStr2(d.h)),
		Warning: C.tjGetErrorCode(d.h) == C.TJERR_WARNING,
	}
}

// Header reads the JPEG header of data without decoding pixels.
func (d *Decompressor) Header(data []byte) (Info, error) {
	if len(data) == 0 {
		return Info{}, &Error{Op: "tjDecompressHeader3", Msg: "empty input"}
	}
	if d.h == nil {
		return Info{}, fmt.Errorf("turbojpeg: use of closed Decompressor")
	}
	r := C.hap_header(d.h, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)))
	runtime.KeepAlive(data)
	if r.rc != 0 {
		return Info{}, d.err("tjDecompressHeader3")
	}
	info := Info{Width: int(r.w), Height: int(r.h), Subsampling: Subsampling(r.samp), Colorspace: Colorspace(r.cs)}
	if info.Width <= 0 || info.Height <= 0 {
		return Info{}, &Error{Op: "tjDecompressHeader3", Msg: fmt.Sprintf("invalid size %dx%d", info.Width, info.Height)}
	}
	if info.Width > MaxDimension || info.Height > MaxDimension || info.Width*info.Height > MaxPixels {
		return Info{}, fmt.Errorf("turbojpeg: image %dx%d exceeds the limit (%d per side, %d pixels)", info.Width, info.Height, MaxDimension, MaxPixels)
	}
	return info, nil
}

// DecodeGrayInto decodes data to 8-bit grayscale at scale 1/denom (denom 1,
// 2, 4 or 8) using DCT-domain scaling; the result is ceil(w/denom) x
// ceil(h/denom) (see ScaledSize). Colour JPEGs give their luma (Y) channel.
// dst, if not nil, is reused when its Pix has enough capacity. It also
// returns the full-size header information.
func (d *Decompressor) DecodeGrayInto(dst *image.Gray, data []byte, denom int) (*image.Gray, Info, error) {
	if !validDenom(denom) {
		return nil, Info{}, fmt.Errorf("turbojpeg: scale 1/%d: denominator must be 1, 2, 4 or 8", denom)
	}
	info, err := d.Header(data)
	if err != nil {
		return nil, Info{}, err
	}
	if C.hap_scale_ok(C.int(info.Width), C.int(info.Height), C.int(denom)) == 0 {
		return nil, info, fmt.Errorf("turbojpeg: scale 1/%d not usable for a %dx%d image", denom, info.Width, info.Height)
	}
	sw, sh := ScaledSize(info.Width, info.Height, denom)
	n := sw * sh
	if dst == nil {
		dst = &image.Gray{}
	}
	if cap(dst.Pix) < n {
		dst.Pix = make([]byte, n)
	}
	dst.Pix = dst.Pix[:n]
	dst.Stride = sw
	dst.Rect = image.Rect(0, 0, sw, sh)
	rc := C.tjDecompress2(d.h, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)),
		(*C.uchar)(unsafe.Pointer(&dst.Pix[0])), C.int(sw), C.int(sw), C.int(sh), C.TJPF_GRAY, C.TJFLAG_ACCURATEDCT)
	runtime.KeepAlive(data)
	runtime.KeepAlive(dst.Pix)
	if rc != 0 {
		return nil, info, d.err("tjDecompress2")
	}
	return dst, info, nil
}

// Encode compresses a *image.Gray, *image.RGBA or *image.NRGBA (alpha
// ignored) to JPEG.
func Encode(img image.Image, o EncodeOptions) ([]byte, error) {
	q := o.Quality
	if q == 0 {
		q = 90
	}
	if q < 1 || q > 100 {
		return nil, fmt.Errorf("turbojpeg: quality %d: must be between 1 and 100", q)
	}
	var (
		pix    []byte
		stride int
		pf     C.int
		samp   = C.int(o.Subsampling)
	)
	switch m := img.(type) {
	case *image.Gray:
		pix, stride, pf, samp = m.Pix, m.Stride, C.TJPF_GRAY, C.TJSAMP_GRAY
	case *image.RGBA:
		pix, stride, pf = m.Pix, m.Stride, C.TJPF_RGBX
	case *image.NRGBA:
		pix, stride, pf = m.Pix, m.Stride, C.TJPF_RGBX
	default:
		return nil, fmt.Errorf("turbojpeg: encode %T: only *image.Gray, *image.RGBA and *image.NRGBA are supported", img)
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, fmt.Errorf("turbojpeg: encode: empty image")
	}
	if o.Subsampling < Samp444 || o.Subsampling > Samp411 {
		return nil, fmt.Errorf("turbojpeg: subsampling %d: unknown", o.Subsampling)
	}
	h := C.tjInitCompress()
	if h == nil {
		return nil, &Error{Op: "tjInitCompress", Msg: C.GoString(C.tjGetErrorStr2(nil))}
	}
	defer C.tjDestroy(h)
	flags := C.int(C.TJFLAG_ACCURATEDCT)
	if o.Progressive {
		flags |= C.TJFLAG_PROGRESSIVE
	}
	var out *C.uchar
	var size C.ulong
	rc := C.tjCompress2(h, (*C.uchar)(unsafe.Pointer(&pix[0])), C.int(b.Dx()), C.int(stride), C.int(b.Dy()), pf,
		&out, &size, samp, C.int(q), flags)
	runtime.KeepAlive(pix)
	if out != nil {
		defer C.tjFree(out)
	}
	if rc != 0 {
		return nil, &Error{Op: "tjCompress2", Msg: C.GoString(C.tjGetErrorStr2(h))}
	}
	return C.GoBytes(unsafe.Pointer(out), C.int(size)), nil
}

var pool = sync.Pool{New: func() any {
	d, err := NewDecompressor()
	if err != nil {
		return err
	}
	return d
}}

func get() (*Decompressor, error) {
	switch v := pool.Get().(type) {
	case *Decompressor:
		return v, nil
	case error:
		return nil, v
	}
	panic("unreachable")
}

// Header reads the JPEG header of data without decoding pixels.
func Header(data []byte) (Info, error) {
	d, err := get()
	if err != nil {
		return Info{}, err
	}
	defer pool.Put(d)
	return d.Header(data)
}

// DecodeGray decodes data to grayscale at scale 1/denom; see
// Decompressor.DecodeGrayInto.
func DecodeGray(data []byte, denom int) (*image.Gray, error) {
	g, _, err := DecodeGrayInto(nil, data, denom)
	return g, err
}

// DecodeGrayInto is Decompressor.DecodeGrayInto with a pooled handle.
func DecodeGrayInto(dst *image.Gray, data []byte, denom int) (*image.Gray, Info, error) {
	d, err := get()
	if err != nil {
		return nil, Info{}, err
	}
	defer pool.Put(d)
	return d.DecodeGrayInto(dst, data, denom)
}
