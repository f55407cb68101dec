package turbojpeg_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/healthcare-ai/platform/xray/turbojpeg"
)

func requireTurbo(tb testing.TB) {
	tb.Helper()
	if !turbojpeg.Available {
		tb.Skip("built without libjpeg-turbo")
	}
}

// testJPEG encodes a w x h smooth gradient with some noise with image/jpeg.
func testJPEG(tb testing.TB, w, h int, colour bool) []byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	var img image.Image
	if colour {
		m := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				v := uint8((x*255)/w + rng.IntN(16))
				m.SetRGBA(x, y, color.RGBA{v, uint8(y * 255 / h), 255 - v, 255})
			}
		}
		img = m
	} else {
		m := image.NewGray(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				m.Pix[y*m.Stride+x] = uint8((x+y)*200/(w+h) + rng.IntN(40))
			}
		}
		img = m
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestHeader(t *testing.T) {
	requireTurbo(t)
	for _, tc := range []struct {
		w, h   int
		colour bool
		cs     turbojpeg.Colorspace
		samp   turbojpeg.Subsampling
	}{
		{100, 37, false, turbojpeg.Gray, turbojpeg.SampGray},
		{333, 517, true, turbojpeg.YCbCr, turbojpeg.Samp420},
	} {
		info, err := turbojpeg.Header(testJPEG(t, tc.w, tc.h, tc.colour))
		if err != nil {
			t.Fatal(err)
		}
		want := turbojpeg.Info{Width: tc.w, Height: tc.h, Subsampling: tc.samp, Colorspace: tc.cs}
		if info != want {
			t.Errorf("Header = %+v, want %+v", info, want)
		}
	}
}

func TestDecodeGrayScales(t *testing.T) {
	requireTurbo(t)
	for _, colour := range []bool{false, true} {
		data := testJPEG(t, 203, 117, colour)
		full, err := turbojpeg.DecodeGray(data, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		// Full-size decode: the Y channel, within IDCT rounding of image/jpeg.
		maxd := 0
		for y := range 117 {
			for x := range 203 {
				var want uint8
				switch m := ref.(type) {
				case *image.Gray:
					want = m.GrayAt(x, y).Y
				case *image.YCbCr:
					want = m.Y[m.YOffset(x, y)]
				}
				d := int(full.GrayAt(x, y).Y) - int(want)
				maxd = max(maxd, d, -d)
			}
		}
		if maxd > 1 {
			t.Errorf("colour=%v: full decode differs from image/jpeg by %d", colour, maxd)
		}
		for _, denom := range []int{2, 4, 8} {
			g, err := turbojpeg.DecodeGray(data, denom)
			if err != nil {
				t.Fatalf("denom %d: %v", denom, err)
			}
			w, h := turbojpeg.ScaledSize(203, 117, denom)
			if g.Rect != image.Rect(0, 0, w, h) || g.Stride != w || len(g.Pix) != w*h {
				t.Errorf("denom %d: got rect %v stride %d len %d, want %dx%d", denom, g.Rect, g.Stride, len(g.Pix), w, h)
			}
		}
	}
}

func TestDecodeGrayIntoReuses(t *testing.T) {
	requireTurbo(t)
	data := testJPEG(t, 640, 480, false)
	dst := &image.Gray{Pix: make([]byte, 0, 80*60)}
	p := &dst.Pix[:1][0]
	g, info, err := turbojpeg.DecodeGrayInto(dst, data, 8)
	if err != nil {
		t.Fatal(err)
	}
	if g != dst || &g.Pix[0] != p {
		t.Error("buffer not reused")
	}
	if info.Width != 640 || info.Height != 480 || g.Bounds().Dx() != 80 || g.Bounds().Dy() != 60 {
		t.Errorf("info %+v, bounds %v", info, g.Bounds())
	}
	if raceEnabled {
		return
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, _, err := turbojpeg.DecodeGrayInto(dst, data, 8); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("DecodeGrayInto with a big enough dst: %v allocs, want 0", allocs)
	}
}

func TestErrors(t *testing.T) {
	requireTurbo(t)
	data := testJPEG(t, 256, 256, false)
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		data    []byte
		denom   int
		want    string
		warning bool
	}{
		{"empty", nil, 8, "empty input", false},
		{"text", []byte("hello, this is not a JPEG"), 8, "Not a JPEG file", false},
		{"png", pngBuf.Bytes(), 8, "Not a JPEG file", false},
		{"truncated", data[:len(data)/2], 8, "Premature end of JPEG file", true},
		{"truncated full", data[:len(data)/2], 1, "Premature end of JPEG file", true},
		{"bad denom", data, 3, "denominator must be 1, 2, 4 or 8", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := turbojpeg.DecodeGray(tc.data, tc.denom)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			var te *turbojpeg.Error
			if errors.As(err, &te) && te.Warning != tc.warning {
				t.Errorf("Warning = %v, want %v", te.Warning, tc.warning)
			}
		})
	}
}

func TestHugeHeaderRejected(t *testing.T) {
	requireTurbo(t)
	data := testJPEG(t, 16, 16, false)
	// Patch the SOF0 frame size to 60000 x 60000.
	i := bytes.Index(data, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0")
	}
	data = bytes.Clone(data)
	data[i+5], data[i+6], data[i+7], data[i+8] = 0xEA, 0x60, 0xEA, 0x60
	if _, err := turbojpeg.DecodeGray(data, 8); err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Fatalf("err = %v, want the size limit", err)
	}
}

func TestConcurrent(t *testing.T) {
	requireTurbo(t)
	data := testJPEG(t, 512, 512, true)
	want, err := turbojpeg.DecodeGray(data, 4)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				g, err := turbojpeg.DecodeGray(data, 4)
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(g.Pix, want.Pix) {
					t.Error("concurrent decode differs")
					return
				}
				if _, err := turbojpeg.DecodeGray(data[:100], 4); err == nil {
					t.Error("truncated data decoded")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestDecompressorClose(t *testing.T) {
	requireTurbo(t)
	d, err := turbojpeg.NewDecompressor()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Header(testJPEG(t, 8, 8, false)); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := d.Header([]byte{0xFF, 0xD8}); err == nil {
		t.Fatal("closed decompressor worked")
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	requireTurbo(t)
	m := image.NewRGBA(image.Rect(0, 0, 50, 30))
	for i := range m.Pix {
		m.Pix[i] = 128
	}
	for _, o := range []turbojpeg.EncodeOptions{{}, {Quality: 75, Subsampling: turbojpeg.Samp444, Progressive: true}} {
		data, err := turbojpeg.Encode(m, o)
		if err != nil {
			t.Fatal(err)
		}
		info, err := turbojpeg.Header(data)
		if err != nil {
			t.Fatal(err)
		}
		if info.Width != 50 || info.Height != 30 || info.Subsampling != o.Subsampling {
			t.Errorf("info %+v for options %+v", info, o)
		}
		g, err := turbojpeg.DecodeGray(data, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range g.Pix {
			if v < 127 || v > 129 {
				t.Fatalf("gray value %d, want 128", v)
			}
		}
	}
	if _, err := turbojpeg.Encode(image.NewGray(image.Rect(0, 0, 4, 4)), turbojpeg.EncodeOptions{Quality: 101}); err == nil {
		t.Error("quality 101 accepted")
	}
}

func FuzzDecodeGray(f *testing.F) {
	requireTurbo(f)
	valid := testJPEG(f, 64, 48, true)
	f.Add(valid, uint8(8))
	f.Add(valid[:len(valid)/2], uint8(1))
	f.Add(testJPEG(f, 9, 9, false), uint8(2))
	var pngBuf bytes.Buffer
	_ = png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 8, 8)))
	f.Add(pngBuf.Bytes(), uint8(4))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x01, 0x11, 0x00}, uint8(8))
	f.Add([]byte("\x00\x01garbage bytes"), uint8(8))
	f.Fuzz(func(t *testing.T, data []byte, d uint8) {
		denom := 1 << (d % 4)
		g, err := turbojpeg.DecodeGray(data, denom)
		if err != nil {
			return
		}
		b := g.Bounds()
		if b.Empty() || len(g.Pix) != b.Dx()*b.Dy() {
			t.Fatalf("bad image %v with %d pixels", b, len(g.Pix))
		}
	})
}
