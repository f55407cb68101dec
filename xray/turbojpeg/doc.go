// Package turbojpeg is the project's own small cgo binding to the TurboJPEG
// API of libjpeg-turbo (Debian package libturbojpeg0-dev to build,
// libturbojpeg0 to run).
//
// It exposes what image preprocessing needs: reading a JPEG header, decoding
// straight to 8-bit grayscale (the luma channel of colour JPEGs) with
// DCT-domain downscaling by 1/2, 1/4 or 1/8, and a small encoder for tests
// and synthetic data.
//
// Every exported function is safe for concurrent use: decompressor handles
// come from a sync.Pool, and a handle dropped by the pool is destroyed by a
// runtime cleanup. A Decompressor made with NewDecompressor serves one
// goroutine at a time and is freed by Close.
//
// Build with the tag noturbojpeg (or with CGO_ENABLED=0) to get a stub whose
// Available is false and whose functions return ErrUnavailable; callers such
// as xray/preprocess then use their pure Go path.
package turbojpeg

import (
	"errors"
	"fmt"
)

// ErrUnavailable is returned by every function of the stub build
// (tag noturbojpeg or no cgo).
var ErrUnavailable = errors.New("turbojpeg: not available in this build (built without cgo or with tag noturbojpeg)")

// Limits on the images this package decodes. A header that declares more is
// rejected before any pixel memory is allocated.
const (
	MaxDimension = 1 << 15 // pixels per side
	MaxPixels    = 1 << 28 // width*height of the full-size image
)

// Error is a failure reported by libjpeg-turbo.
type Error struct {
	Op      string // the TurboJPEG call, e.g. "tjDecompress2"
	Msg     string // the library's message (tjGetErrorStr2)
	Warning bool   // libjpeg-turbo rated it recoverable (e.g. premature end of data); the output is not trusted either way
}

func (e *Error) Error() string {
	if e.Warning {
		return fmt.Sprintf("turbojpeg %s: %s (warning: data corrupt)", e.Op, e.Msg)
	}
	return fmt.Sprintf("turbojpeg %s: %s", e.Op, e.Msg)
}

// Colorspace is the colour space of the JPEG data (TJCS_*).
type Colorspace int

// JPEG colour spaces, with the values of the TurboJPEG API.
const (
	RGB Colorspace = iota
	YCbCr
	Gray
	CMYK
	YCCK
)

func (c Colorspace) String() string {
	switch c {
	case RGB:
		return "rgb"
	case YCbCr:
		return "ycbcr"
	case Gray:
		return "gray"
	case CMYK:
		return "cmyk"
	case YCCK:
		return "ycck"
	}
	return fmt.Sprintf("colorspace(%d)", int(c))
}

// Subsampling is the chroma subsampling of the JPEG data (TJSAMP_*).
type Subsampling int

// Chroma subsampling options, with the values of the TurboJPEG API.
const (
	Samp444 Subsampling = iota
	Samp422
	Samp420
	SampGray
	Samp440
	Samp411
)

// Info is what a JPEG header tells.
type Info struct {
	Width, Height int
	Subsampling   Subsampling
	Colorspace    Colorspace
}

// EncodeOptions controls Encode.
type EncodeOptions struct {
	Quality     int         // 1..100; 0 means 90
	Subsampling Subsampling // for colour input; gray input is always SampGray
	Progressive bool
}

// validDenom reports whether denom is one of the DCT scaling denominators
// this package supports.
func validDenom(denom int) bool {
	return denom == 1 || denom == 2 || denom == 4 || denom == 8
}

// ScaledSize is the output size of a decode of a w x h JPEG at scale
// 1/denom: ceil(w/denom) x ceil(h/denom) (TurboJPEG's TJSCALED).
func ScaledSize(w, h, denom int) (int, int) {
	return (w + denom - 1) / denom, (h + denom - 1) / denom
}
