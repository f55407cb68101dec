package preprocess_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"testing"
)

// content kinds for generated test images.
const (
	smooth = "smooth" // gradients and soft ellipses
	xray   = "xray"   // smooth anatomy-like shapes plus mild noise
	noisy  = "noisy"  // uniform random pixels: worst case for JPEG
	edges  = "edges"  // hard-edged rectangles and stripes
)

// genGray makes a deterministic w x h test image of the given kind.
func genGray(kind string, w, h int, seed uint64) *image.Gray {
	rng := rand.New(rand.NewPCG(seed, uint64(w*7919+h)))
	g := image.NewGray(image.Rect(0, 0, w, h))
	fw, fh := float64(w), float64(h)
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/fw, float64(y)/fh
			var v float64
			switch kind {
			case smooth:
				v = 40 + 120*fx + 60*fy
				v += 30 * math.Exp(-((fx-0.3)*(fx-0.3)+(fy-0.5)*(fy-0.5))*20)
			case xray:
				// two bright "lungs" darker inside, ribs as soft stripes
				v = 200 - 150*math.Exp(-(math.Pow((fx-0.3)/0.15, 2)+math.Pow((fy-0.5)/0.3, 2)))
				v -= 150 * math.Exp(-(math.Pow((fx-0.7)/0.15, 2) + math.Pow((fy-0.5)/0.3, 2)))
				v += 25 * math.Sin(fy*60)
				v += rng.NormFloat64() * 8
			case noisy:
				v = float64(rng.IntN(256))
			case edges:
				v = 30
				if (x/13+y/29)%2 == 0 {
					v = 220
				}
				if x > w/3 && x < w/2 && y > h/4 {
					v = 0
				}
				if x%5 == 0 {
					v = 255
				}
			}
			g.Pix[y*g.Stride+x] = uint8(max(0, min(255, math.Round(v))))
		}
	}
	return g
}

// colourise turns a gray image into an RGBA image with a colour cast whose
// luma stays close to the gray value.
func colourise(g *image.Gray) *image.RGBA {
	b := g.Bounds()
	m := image.NewRGBA(b)
	for y := range b.Dy() {
		for x := range b.Dx() {
			v := int(g.Pix[y*g.Stride+x])
			m.SetRGBA(x, y, color.RGBA{uint8(min(255, v+20)), uint8(v), uint8(max(0, v-30)), 255})
		}
	}
	return m
}

func encodeJPEG(tb testing.TB, img image.Image, q int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func encodePNG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
