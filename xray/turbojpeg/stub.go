//go:build !cgo || noturbojpeg

package turbojpeg

import "image"

// Available reports whether this build decodes with libjpeg-turbo.
const Available = false

// Decompressor is unusable in this build.
type Decompressor struct{}

// NewDecompressor returns ErrUnavailable in this build.
func NewDecompressor() (*Decompressor, error) { return nil, ErrUnavailable }

// Close does nothing in this build.
func (d *Decompressor) Close() error { return nil }

// Header returns ErrUnavailable in this build.
func (d *Decompressor) Header(data []byte) (Info, error) { return Info{}, ErrUnavailable }

// DecodeGrayInto returns ErrUnavailable in this build.
func (d *Decompressor) DecodeGrayInto(dst *image.Gray, data []byte, denom int) (*image.Gray, Info, error) {
	return nil, Info{}, ErrUnavailable
}

// Header returns ErrUnavailable in this build.
func Header(data []byte) (Info, error) { return Info{}, ErrUnavailable }

// DecodeGray returns ErrUnavailable in this build.
func DecodeGray(data []byte, denom int) (*image.Gray, error) { return nil, ErrUnavailable }

// DecodeGrayInto returns ErrUnavailable in this build.
func DecodeGrayInto(dst *image.Gray, data []byte, denom int) (*image.Gray, Info, error) {
	return nil, Info{}, ErrUnavailable
}

// Encode returns ErrUnavailable in this build.
func Encode(img image.Image, o EncodeOptions) ([]byte, error) { return nil, ErrUnavailable }
