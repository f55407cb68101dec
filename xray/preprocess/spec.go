package preprocess

import (
	"errors"
	"fmt"
	"math"
)

// Values of the Spec fields this package implements.
const (
	LayoutNCHW          = "NCHW"
	ColorGrayBT601      = "gray-bt601"
	ResizeBlockMeanArea = "block-mean-area"
)

// Limits on images and tensors. An image header that declares more pixels is
// rejected before pixel memory is allocated.
const (
	MaxDimension  = 16384    // source pixels per side
	MaxPixels     = 64 << 20 // source width*height
	MaxOutputSide = 4096     // Spec.Width and Spec.Height
)

// Spec says how an image becomes a model input tensor. The JSON field names
// are a contract with the Python training code and the model metadata.
type Spec struct {
	Width    int     `json:"width"`    // output width in pixels
	Height   int     `json:"height"`   // output height in pixels
	Channels int     `json:"channels"` // 1 (grayscale)
	Layout   string  `json:"layout"`   // "NCHW"
	Color    string  `json:"color"`    // "gray-bt601", see the package doc
	Resize   string  `json:"resize"`   // "block-mean-area", see the package doc
	Scale    float32 `json:"scale"`    // multiplies the 0..255 gray value
	Mean     float32 `json:"mean"`     // subtracted after scaling
	Std      float32 `json:"std"`      // divides after subtracting
}

// DefaultSpec is a size x size gray NCHW tensor with values gray/255 in
// [0, 1] (Mean 0, Std 1), the Keras rescale=1/255 convention.
func DefaultSpec(size int) Spec {
	return Spec{
		Width:    size,
		Height:   size,
		Channels: 1,
		Layout:   LayoutNCHW,
		Color:    ColorGrayBT601,
		Resize:   ResizeBlockMeanArea,
		Scale:    1.0 / 255,
		Mean:     0,
		Std:      1,
	}
}

// Validate reports every field that this package cannot honour.
func (s Spec) Validate() error {
	var errs []error
	if s.Width < 1 || s.Width > MaxOutputSide {
		errs = append(errs, fmt.Errorf("spec width %d: must be between 1 and %d", s.Width, MaxOutputSide))
	}
	if s.Height < 1 || s.Height > MaxOutputSide {
		errs = append(errs, fmt.Errorf("spec height %d: must be between 1 and %d", s.Height, MaxOutputSide))
	}
	if s.Channels != 1 {
		errs = append(errs, fmt.Errorf("spec channels %d: must be 1", s.Channels))
	}
	if s.Layout != LayoutNCHW {
		errs = append(errs, fmt.Errorf("spec layout %q: must be %q", s.Layout, LayoutNCHW))
	}
	if s.Color != ColorGrayBT601 {
		errs = append(errs, fmt.Errorf("spec color %q: must be %q", s.Color, ColorGrayBT601))
	}
	if s.Resize != ResizeBlockMeanArea {
		errs = append(errs, fmt.Errorf("spec resize %q: must be %q", s.Resize, ResizeBlockMeanArea))
	}
	if !finite(s.Scale) || s.Scale <= 0 {
		errs = append(errs, fmt.Errorf("spec scale %v: must be a positive finite number", s.Scale))
	}
	if !finite(s.Mean) {
		errs = append(errs, fmt.Errorf("spec mean %v: must be a finite number", s.Mean))
	}
	if !finite(s.Std) || s.Std <= 0 {
		errs = append(errs, fmt.Errorf("spec std %v: must be a positive finite number", s.Std))
	}
	return errors.Join(errs...)
}

func finite(f float32) bool {
	return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
}

// Len is the number of float32 values in one image's tensor,
// Channels*Height*Width.
func (s Spec) Len() int { return s.Channels * s.Height * s.Width }

// Reduction is the factor r of step b for a W x H source: the largest of 8,
// 4, 2, 1 with ceil(W/r) >= s.Width and ceil(H/r) >= s.Height.
func (s Spec) Reduction(w, h int) int {
	for r := 8; r > 1; r /= 2 {
		if (w+r-1)/r >= s.Width && (h+r-1)/r >= s.Height {
			return r
		}
	}
	return 1
}
