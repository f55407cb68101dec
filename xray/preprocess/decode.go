package preprocess

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"

	"github.com/healthcare-ai/platform/xray/turbojpeg"
)

// Errors that Decode and Probe wrap, so callers can classify failures.
var (
	ErrFormat   = errors.New("not a JPEG or PNG image")
	ErrCorrupt  = errors.New("corrupt image data")
	ErrTooLarge = errors.New("image too large")
)

// Format is the container format of an image file.
type Format string

// Supported formats.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
)

// Sniff tells the format from the first bytes of data.
func Sniff(data []byte) (Format, error) {
	switch {
	case len(data) == 0:
		return "", fmt.Errorf("%w: empty data", ErrFormat)
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG, nil
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return PNG, nil
	}
	n := min(len(data), 8)
	return "", fmt.Errorf("%w: starts with % x", ErrFormat, data[:n])
}

// Path is the decoder that produced a tensor.
type Path int

// Decoding paths.
const (
	PathAuto  Path = iota // libjpeg-turbo for JPEG when available, else Go
	PathGo                // image/jpeg and image/png, then Spec.Tensor: exact
	PathTurbo             // JPEG only: libjpeg-turbo (DCT-domain 1/8 when r = 8), no fallback
)

func (p Path) String() string {
	switch p {
	case PathAuto:
		return "auto"
	case PathGo:
		return "go"
	case PathTurbo:
		return "turbojpeg"
	}
	return fmt.Sprintf("path(%d)", int(p))
}

// FastAvailable reports whether this build has the libjpeg-turbo fast path.
const FastAvailable = turbojpeg.Available

// Info describes a source image.
type Info struct {
	Format Format `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// Result is the outcome of Decode.
type Result struct {
	Tensor    []float32 // Spec.Len() values, NCHW
	Info                // the source image
	Reduction int       // r of step b
	Path      Path      // PathGo or PathTurbo: what actually decoded it
}

// Probe reads only the header of an image: format and dimensions. It does
// not check the compressed pixel data.
func Probe(data []byte) (Info, error) {
	f, err := Sniff(data)
	if err != nil {
		return Info{}, err
	}
	var cfg image.Config
	switch f {
	case JPEG:
		if turbojpeg.Available {
			if hi, terr := turbojpeg.Header(data); terr == nil {
				cfg.Width, cfg.Height = hi.Width, hi.Height
				break
			}
		}
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	case PNG:
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return Info{}, fmt.Errorf("%w: %s header: %w", ErrCorrupt, f, err)
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return Info{}, err
	}
	return Info{Format: f, Width: cfg.Width, Height: cfg.Height}, nil
}

// Decode turns JPEG or PNG bytes into the tensor, taking the libjpeg-turbo
// fast path for JPEG when available (see the package doc).
func (s Spec) Decode(data []byte) (Result, error) {
	return s.DecodeUsing(PathAuto, nil, data)
}

// DecodeInto is Decode writing the tensor into dst when it has capacity
// s.Len().
func (s Spec) DecodeInto(dst []float32, data []byte) (Result, error) {
	return s.DecodeUsing(PathAuto, dst, data)
}

// DecodeUsing is DecodeInto with a chosen path. PathGo is the exact
// reference; PathTurbo fails for PNG and in builds without libjpeg-turbo.
func (s Spec) DecodeUsing(p Path, dst []float32, data []byte) (Result, error) {
	if err := s.Validate(); err != nil {
		return Result{}, err
	}
	f, err := Sniff(data)
	if err != nil {
		return Result{}, err
	}
	var fastErr error
	if f == JPEG && p != PathGo {
		if !turbojpeg.Available {
			if p == PathTurbo {
				return Result{}, turbojpeg.ErrUnavailable
			}
		} else {
			res, err := s.decodeTurbo(dst, data)
			if err == nil || p == PathTurbo || errors.Is(err, ErrTooLarge) {
				return res, err
			}
			fastErr = err
		}
	}
	if p == PathTurbo {
		return Result{}, fmt.Errorf("decode %s: the turbojpeg path decodes JPEG only", f)
	}
	res, err := s.decodeGo(dst, data, f)
	if err != nil && fastErr != nil {
		msg := fastErr.Error()
		var te *turbojpeg.Error
		if errors.As(fastErr, &te) {
			msg = te.Msg
		}
		err = fmt.Errorf("%w (libjpeg-turbo: %s)", err, msg)
	}
	return res, err
}

func (s Spec) decodeTurbo(dst []float32, data []byte) (Result, error) {
	hdr, err := turbojpeg.Header(data)
	if err != nil {
		return Result{}, fmt.Errorf("%w: jpeg: %w", ErrCorrupt, err)
	}
	if err := checkSize(hdr.Width, hdr.Height); err != nil {
		return Result{}, err
	}
	r := s.Reduction(hdr.Width, hdr.Height)
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	// Only the 1/8 scale is a block mean (each output pixel is the block's
	// DC term); libjpeg-turbo's 1/2 and 1/4 IDCTs drop the high frequencies,
	// so for r < 8 decode at full size and reduce in Go.
	denom := 1
	if r == 8 {
		denom = 8
	}
	img, _, err := turbojpeg.DecodeGrayInto(&sc.small, data, denom)
	if err != nil {
		return Result{}, fmt.Errorf("%w: jpeg: %w", ErrCorrupt, err)
	}
	var t []float32
	if r == 8 {
		b := img.Bounds()
		t = finish(s, sc, dst, img.Pix, b.Dx(), b.Dy(), 1)
	} else {
		w, h := hdr.Width, hdr.Height
		sc.sums = blockSums(sc.sums, img.Pix, img.Stride, w, h, r)
		t = finish(s, sc, dst, sc.sums, (w+r-1)/r, (h+r-1)/r, uint64(r*r))
	}
	return Result{
		Tensor:    t,
		Info:      Info{Format: JPEG, Width: hdr.Width, Height: hdr.Height},
		Reduction: r,
		Path:      PathTurbo,
	}, nil
}

func (s Spec) decodeGo(dst []float32, data []byte, f Format) (Result, error) {
	var (
		cfg image.Config
		err error
	)
	if f == JPEG {
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	} else {
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s header: %w", ErrCorrupt, f, err)
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return Result{}, err
	}
	var img image.Image
	if f == JPEG {
		img, err = jpeg.Decode(bytes.NewReader(data))
	} else {
		img, err = png.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s: %w", ErrCorrupt, f, err)
	}
	g := ToGray(img)
	t, err := s.Tensor(dst, g)
	if err != nil {
		return Result{}, err
	}
	b := g.Bounds()
	return Result{
		Tensor:    t,
		Info:      Info{Format: f, Width: b.Dx(), Height: b.Dy()},
		Reduction: s.Reduction(b.Dx(), b.Dy()),
		Path:      PathGo,
	}, nil
}

// ToGray applies step a of the package doc. *image.Gray is returned as is
// and the Y plane of *image.YCbCr is shared, not copied; other images are
// converted into a new *image.Gray.
func ToGray(img image.Image) *image.Gray {
	switch m := img.(type) {
	case *image.Gray:
		return m
	case *image.YCbCr:
		return &image.Gray{Pix: m.Y, Stride: m.YStride, Rect: m.Rect}
	}
	b := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	switch m := img.(type) {
	case *image.Gray16:
		for y := range b.Dy() {
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			dst := g.Pix[y*g.Stride : y*g.Stride+b.Dx()]
			for x := range dst {
				dst[x] = src[2*x] // big-endian: the high byte comes first
			}
		}
	case image.RGBA64Image:
		for y := range b.Dy() {
			dst := g.Pix[y*g.Stride : y*g.Stride+b.Dx()]
			for x := range dst {
				c := m.RGBA64At(b.Min.X+x, b.Min.Y+y)
				dst[x] = luma(uint32(c.R), uint32(c.G), uint32(c.B))
			}
		}
	default:
		for y := range b.Dy() {
			dst := g.Pix[y*g.Stride : y*g.Stride+b.Dx()]
			for x := range dst {
				r, gg, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				dst[x] = luma(r, gg, bb)
			}
		}
	}
	return g
}

// luma is image/color.GrayModel on 16-bit channels.
func luma(r, g, b uint32) uint8 {
	return uint8((19595*r + 38470*g + 7471*b + 1<<15) >> 24)
}
