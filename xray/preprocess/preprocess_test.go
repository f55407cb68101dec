package preprocess_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/xray/preprocess"
)

func TestSpecJSONContract(t *testing.T) {
	s := preprocess.DefaultSpec(64)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"width":64,"height":64,"channels":1,"layout":"NCHW","color":"gray-bt601","resize":"block-mean-area","scale":0.003921569,"mean":0,"std":1}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant   %s", b, want)
	}
	var back preprocess.Spec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != s {
		t.Errorf("round trip: %+v, want %+v", back, s)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("DefaultSpec invalid: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*preprocess.Spec)
		want []string
	}{
		{func(s *preprocess.Spec) { s.Width = 0 }, []string{"spec width 0: must be between 1 and 4096"}},
		{func(s *preprocess.Spec) { s.Height = 5000 }, []string{"spec height 5000"}},
		{func(s *preprocess.Spec) { s.Channels = 3 }, []string{"spec channels 3: must be 1"}},
		{func(s *preprocess.Spec) { s.Layout = "NHWC" }, []string{`spec layout "NHWC": must be "NCHW"`}},
		{func(s *preprocess.Spec) { s.Color = "rgb" }, []string{`spec color "rgb"`}},
		{func(s *preprocess.Spec) { s.Resize = "bilinear" }, []string{`spec resize "bilinear"`}},
		{func(s *preprocess.Spec) { s.Scale = 0 }, []string{"spec scale 0"}},
		{func(s *preprocess.Spec) { s.Mean = float32(math.NaN()) }, []string{"spec mean NaN"}},
		{func(s *preprocess.Spec) { s.Std = 0; s.Width = -1 }, []string{"spec std 0", "spec width -1"}},
	} {
		s := preprocess.DefaultSpec(64)
		tc.mod(&s)
		err := s.Validate()
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("Validate(%+v) = %v, want it to mention %q", s, err, w)
			}
		}
		if _, err := s.Tensor(nil, image.NewGray(image.Rect(0, 0, 8, 8))); err == nil {
			t.Errorf("Tensor accepted invalid spec %+v", s)
		}
	}
}

func TestReduction(t *testing.T) {
	s := preprocess.DefaultSpec(64)
	for _, tc := range []struct{ w, h, r int }{
		{1024, 1024, 8}, {512, 512, 8}, {505, 2000, 8}, {504, 2000, 4}, {2000, 504, 4},
		{256, 300, 4}, {253, 300, 4}, {252, 300, 2}, {128, 128, 2}, {127, 128, 2}, {126, 128, 1}, {64, 64, 1}, {10, 10, 1},
	} {
		if got := s.Reduction(tc.w, tc.h); got != tc.r {
			t.Errorf("Reduction(%d, %d) = %d, want %d", tc.w, tc.h, got, tc.r)
		}
	}
}

// norm is step e for the default spec's fields.
func norm(s preprocess.Spec, v float32) float32 { return (v*s.Scale - s.Mean) / s.Std }

func TestConstantImageGivesConstantTensor(t *testing.T) {
	for _, sz := range [][2]int{{1024, 1024}, {1001, 777}, {333, 517}, {100, 90}, {7, 5}, {64, 64}} {
		for _, c := range []uint8{0, 1, 77, 128, 254, 255} {
			g := image.NewGray(image.Rect(0, 0, sz[0], sz[1]))
			for i := range g.Pix {
				g.Pix[i] = c
			}
			for _, spec := range []preprocess.Spec{preprocess.DefaultSpec(64), preprocess.DefaultSpec(37),
				{Width: 50, Height: 30, Channels: 1, Layout: "NCHW", Color: "gray-bt601", Resize: "block-mean-area", Scale: 1.0 / 255, Mean: 0.5, Std: 0.25}} {
				ten, err := spec.Tensor(nil, g)
				if err != nil {
					t.Fatal(err)
				}
				want := norm(spec, float32(c))
				if len(ten) != spec.Len() {
					t.Fatalf("len %d, want %d", len(ten), spec.Len())
				}
				for i, v := range ten {
					if v != want {
						t.Fatalf("%dx%d c=%d spec %dx%d: tensor[%d] = %v, want %v", sz[0], sz[1], c, spec.Width, spec.Height, i, v, want)
					}
				}
			}
		}
	}
}

// TestExactBlockMeans: a source of exactly r*Width x r*Height pixels gives
// the block means themselves (the area step is the identity).
func TestExactBlockMeans(t *testing.T) {
	for _, tc := range []struct{ w, h, W, H, r int }{
		{512, 384, 64, 48, 8}, {256, 256, 64, 64, 4}, {96, 40, 48, 20, 2},
	} {
		g := genGray(noisy, tc.w, tc.h, 3)
		spec := preprocess.DefaultSpec(tc.W)
		spec.Height = tc.H
		if r := spec.Reduction(tc.w, tc.h); r != tc.r {
			t.Fatalf("r = %d, want %d", r, tc.r)
		}
		ten, err := spec.Tensor(nil, g)
		if err != nil {
			t.Fatal(err)
		}
		for Y := range tc.H {
			for X := range tc.W {
				sum := 0
				for dy := range tc.r {
					for dx := range tc.r {
						sum += int(g.GrayAt(X*tc.r+dx, Y*tc.r+dy).Y)
					}
				}
				want := norm(spec, float32(float64(sum)/float64(tc.r*tc.r)))
				if got := ten[Y*tc.W+X]; got != want {
					t.Fatalf("%dx%d: (%d,%d) = %v, want block mean %v", tc.w, tc.h, X, Y, got, want)
				}
			}
		}
	}
}

func grayFrom(w, h int, pix ...uint8) *image.Gray {
	return &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}
}

// TestHandExamples checks values worked out by hand from the contract.
func TestHandExamples(t *testing.T) {
	spec := func(w, h int) preprocess.Spec {
		s := preprocess.DefaultSpec(w)
		s.Height = h
		s.Scale = 1 // keep gray levels, to compare with the hand computation
		return s
	}
	edge := image.NewGray(image.Rect(0, 0, 10, 9))
	for y := range 9 {
		for x := range 10 {
			edge.Pix[y*10+x] = uint8(x + 10*y)
		}
	}
	for _, tc := range []struct {
		name string
		spec preprocess.Spec
		g    *image.Gray
		want []float32
	}{
		// r = 1; 5 -> 4 pixels: output o covers [1.25o, 1.25o+1.25).
		// o0 = (1*0 + .25*50)/1.25, o1 = (.75*50 + .5*100)/1.25, ...
		{"area 5->4", spec(4, 1), grayFrom(5, 1, 0, 50, 100, 150, 200), []float32{10, 70, 130, 190}},
		// r = 2 (ceil(3/2) = 2 >= 2); the second block replicates column 2 and
		// the single row: (0+30+0+30)/4 = 15, (60+60+60+60)/4 = 60.
		{"edge replication r=2", spec(2, 1), grayFrom(3, 1, 0, 30, 60), []float32{15, 60}},
		// r = 1, enlarging 2x2 -> 3x3: the middle output column covers a
		// third of each source column.
		{"enlarge 2->3", spec(3, 3), grayFrom(2, 2, 0, 90, 180, 255), []float32{
			0, 45, 90,
			90, 131.25, 172.5,
			180, 217.5, 255,
		}},
		// r = 8 on 10x9, value x+10y: block (1,0) reads columns 8,9,9,9,9,9,9,9
		// (mean 8.875) and rows 0..7 (mean 35); block (0,1) reads row 8 eight
		// times.
		{"edge replication r=8", spec(2, 2), edge, []float32{38.5, 43.875, 83.5, 88.875}},
	} {
		got, err := tc.spec.Tensor(nil, tc.g)
		if err != nil {
			t.Fatal(err)
		}
		for i := range tc.want {
			if got[i] != tc.want[i] {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
}

// naive is an independent, slow, float64 implementation of the contract.
func naive(s preprocess.Spec, g *image.Gray) []float32 {
	W, H := g.Bounds().Dx(), g.Bounds().Dy()
	r := 1
	for _, c := range []int{8, 4, 2} {
		if math.Ceil(float64(W)/float64(c)) >= float64(s.Width) && math.Ceil(float64(H)/float64(c)) >= float64(s.Height) {
			r = c
			break
		}
	}
	rw, rh := (W+r-1)/r, (H+r-1)/r
	red := make([]float64, rw*rh)
	for j := range rh {
		for i := range rw {
			sum := 0.0
			for dy := range r {
				for dx := range r {
					sum += float64(g.GrayAt(min(i*r+dx, W-1), min(j*r+dy, H-1)).Y)
				}
			}
			red[j*rw+i] = sum / float64(r*r)
		}
	}
	overlap := func(a0, a1, b0, b1 float64) float64 { return max(0, min(a1, b1)-max(a0, b0)) }
	out := make([]float32, s.Width*s.Height)
	for Y := range s.Height {
		y0, y1 := float64(Y)*float64(rh)/float64(s.Height), float64(Y+1)*float64(rh)/float64(s.Height)
		for X := range s.Width {
			x0, x1 := float64(X)*float64(rw)/float64(s.Width), float64(X+1)*float64(rw)/float64(s.Width)
			sum := 0.0
			for j := range rh {
				oy := overlap(y0, y1, float64(j), float64(j+1))
				if oy == 0 {
					continue
				}
				for i := range rw {
					sum += oy * overlap(x0, x1, float64(i), float64(i+1)) * red[j*rw+i]
				}
			}
			v := float32(sum / ((x1 - x0) * (y1 - y0)))
			out[Y*s.Width+X] = (v*s.Scale - s.Mean) / s.Std
		}
	}
	return out
}

func TestMatchesNaiveReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 60 {
		w, h := 1+rng.IntN(300), 1+rng.IntN(300)
		s := preprocess.DefaultSpec(1 + rng.IntN(70))
		s.Height = 1 + rng.IntN(70)
		s.Mean, s.Std = 0.4, 0.3
		g := genGray([]string{smooth, noisy, edges}[rng.IntN(3)], w, h, rng.Uint64())
		got, err := s.Tensor(nil, g)
		if err != nil {
			t.Fatal(err)
		}
		want := naive(s, g)
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
				t.Fatalf("%dx%d -> %dx%d: [%d] = %v, naive %v", w, h, s.Width, s.Height, i, got[i], want[i])
			}
		}
	}
}

func TestTensorSubImage(t *testing.T) {
	g := genGray(noisy, 300, 200, 9)
	sub := g.SubImage(image.Rect(17, 33, 250, 190)).(*image.Gray)
	cp := image.NewGray(image.Rect(0, 0, 233, 157))
	for y := range 157 {
		copy(cp.Pix[y*cp.Stride:], sub.Pix[sub.PixOffset(17, 33+y):sub.PixOffset(250, 33+y)])
	}
	s := preprocess.DefaultSpec(20)
	a, _ := s.Tensor(nil, sub)
	b, _ := s.Tensor(nil, cp)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("sub-image tensor differs at %d", i)
		}
	}
}

func TestToGray(t *testing.T) {
	g16 := image.NewGray16(image.Rect(0, 0, 3, 1))
	g16.SetGray16(0, 0, color.Gray16{0x12FF})
	g16.SetGray16(1, 0, color.Gray16{0xFF00})
	g16.SetGray16(2, 0, color.Gray16{0x0080})
	if got := preprocess.ToGray(g16).Pix; !bytes.Equal(got, []byte{0x12, 0xFF, 0x00}) {
		t.Errorf("Gray16: %v, want the high bytes", got)
	}
	rgb := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range rgb.Pix {
		rgb.Pix[i] = uint8(rng.IntN(256))
	}
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.RGBA{10, 200, 30, 255}, color.White})
	pal.Pix[1] = 1
	for _, img := range []image.Image{rgb, pal, image.NewCMYK(image.Rect(0, 0, 4, 4))} {
		got := preprocess.ToGray(img)
		b := img.Bounds()
		for y := range b.Dy() {
			for x := range b.Dx() {
				want := color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y
				if v := got.GrayAt(x, y).Y; v != want {
					t.Fatalf("%T (%d,%d): %d, want color.GrayModel %d", img, x, y, v, want)
				}
			}
		}
	}
	ycc := image.NewYCbCr(image.Rect(0, 0, 8, 8), image.YCbCrSubsampleRatio420)
	if g := preprocess.ToGray(ycc); &g.Pix[0] != &ycc.Y[0] {
		t.Error("YCbCr: the Y plane was copied")
	}
}

func TestDecodeFormats(t *testing.T) {
	spec := preprocess.DefaultSpec(16)
	g := genGray(xray, 150, 130, 4)
	ref, _ := spec.Tensor(nil, g)
	g16 := image.NewGray16(g.Bounds())
	for i, v := range g.Pix {
		g16.Pix[2*i], g16.Pix[2*i+1] = v, 0x7F
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"png gray8", encodePNG(t, g)},
		{"png gray16", encodePNG(t, g16)},
	} {
		res, err := spec.Decode(tc.data)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if res.Format != preprocess.PNG || res.Width != 150 || res.Height != 130 || res.Reduction != 8 {
			t.Errorf("%s: info %+v r=%d", tc.name, res.Info, res.Reduction)
		}
		for i := range ref {
			if res.Tensor[i] != ref[i] {
				t.Fatalf("%s: tensor differs from Tensor(source) at %d", tc.name, i)
			}
		}
	}
	// PNG colour: the GrayModel conversion.
	c := colourise(g)
	res, err := spec.Decode(encodePNG(t, c))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := spec.Tensor(nil, preprocess.ToGray(c))
	for i := range want {
		if res.Tensor[i] != want[i] {
			t.Fatalf("png rgba differs at %d", i)
		}
	}
	// JPEG through the Go path equals Tensor of image/jpeg's decode.
	data := encodeJPEG(t, c, 85)
	res, err = spec.DecodeUsing(preprocess.PathGo, nil, data)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := jpeg.Decode(bytes.NewReader(data))
	want, _ = spec.Tensor(nil, preprocess.ToGray(img))
	for i := range want {
		if res.Tensor[i] != want[i] {
			t.Fatalf("jpeg go path differs at %d", i)
		}
	}
}

func TestProbe(t *testing.T) {
	g := genGray(smooth, 123, 45, 1)
	for _, data := range [][]byte{encodeJPEG(t, g, 90), encodePNG(t, g)} {
		info, err := preprocess.Probe(data)
		if err != nil {
			t.Fatal(err)
		}
		if info.Width != 123 || info.Height != 45 {
			t.Errorf("Probe = %+v", info)
		}
	}
	if _, err := preprocess.Probe([]byte("GIF89a....")); !errors.Is(err, preprocess.ErrFormat) {
		t.Errorf("gif: %v, want ErrFormat", err)
	}
}

// hugeJPEG patches the SOF0 size of a small JPEG to w x h.
func hugeJPEG(tb testing.TB, w, h int) []byte {
	data := bytes.Clone(encodeJPEG(tb, genGray(smooth, 16, 16, 1), 90))
	i := bytes.Index(data, []byte{0xFF, 0xC0})
	data[i+5], data[i+6] = byte(h>>8), byte(h)
	data[i+7], data[i+8] = byte(w>>8), byte(w)
	return data
}

func TestDecodeErrors(t *testing.T) {
	spec := preprocess.DefaultSpec(32)
	jpg := encodeJPEG(t, genGray(xray, 400, 400, 1), 90)
	pngData := encodePNG(t, genGray(xray, 100, 100, 1))
	for _, tc := range []struct {
		name string
		data []byte
		is   error
		msg  string
	}{
		{"empty", nil, preprocess.ErrFormat, "empty data"},
		{"text", []byte("just some text\n"), preprocess.ErrFormat, "starts with 6a 75 73 74"},
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), preprocess.ErrFormat, "not a JPEG or PNG"},
		{"truncated jpeg", jpg[:len(jpg)/2], preprocess.ErrCorrupt, "jpeg"},
		{"jpeg header only", jpg[:200], preprocess.ErrCorrupt, "jpeg"},
		{"jpeg magic only", jpg[:3], preprocess.ErrCorrupt, "jpeg"},
		{"truncated png", pngData[:len(pngData)/2], preprocess.ErrCorrupt, "png"},
		{"huge jpeg", hugeJPEG(t, 60000, 60000), preprocess.ErrTooLarge, "60000x60000"},
		{"too many pixels", hugeJPEG(t, 16000, 16000), preprocess.ErrTooLarge, "16000x16000"},
	} {
		for _, p := range []preprocess.Path{preprocess.PathAuto, preprocess.PathGo} {
			_, err := spec.DecodeUsing(p, nil, tc.data)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s (%v): err = %v, want %v mentioning %q", tc.name, p, err, tc.is, tc.msg)
			}
		}
	}
	if _, err := spec.DecodeUsing(preprocess.PathTurbo, nil, pngData); err == nil {
		t.Error("PathTurbo decoded a PNG")
	}
}

// TestFallbackToGo: libjpeg-turbo warns about junk bytes between markers,
// which image/jpeg skips; Decode then returns the Go path's result.
func TestFallbackToGo(t *testing.T) {
	if !preprocess.FastAvailable {
		t.Skip("built without libjpeg-turbo")
	}
	data := encodeJPEG(t, genGray(xray, 320, 240, 1), 90)
	i := bytes.Index(data, []byte{0xFF, 0xC4}) // first DHT
	junk := append(append(bytes.Clone(data[:i]), 0x01, 0x02, 0x03), data[i:]...)
	spec := preprocess.DefaultSpec(32)
	if _, err := spec.DecodeUsing(preprocess.PathTurbo, nil, junk); err == nil {
		t.Fatal("libjpeg-turbo accepted junk between markers; the test needs another trigger")
	}
	res, err := spec.Decode(junk)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != preprocess.PathGo {
		t.Errorf("path %v, want go", res.Path)
	}
}

func TestDecodeIntoAllocs(t *testing.T) {
	spec := preprocess.DefaultSpec(64)
	data := encodeJPEG(t, genGray(xray, 1024, 1024, 1), 90)
	dst := make([]float32, spec.Len())
	res, err := spec.DecodeInto(dst, data)
	if err != nil {
		t.Fatal(err)
	}
	if &res.Tensor[0] != &dst[0] {
		t.Error("dst not reused")
	}
	if !preprocess.FastAvailable {
		return
	}
	if raceEnabled {
		return
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := spec.DecodeInto(dst, data); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("fast path DecodeInto: %v allocs per image, want 0", allocs)
	}
}

func FuzzDecode(f *testing.F) {
	valid := encodeJPEG(f, genGray(xray, 100, 80, 1), 90)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(encodeJPEG(f, colourise(genGray(edges, 37, 29, 2)), 75))
	f.Add(encodePNG(f, genGray(smooth, 20, 10, 1)))
	f.Add(hugeJPEG(f, 60000, 60000))
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00})
	rng := rand.New(rand.NewPCG(7, 7))
	random := make([]byte, 512)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	f.Add(random)
	spec := preprocess.DefaultSpec(16)
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		res, err := spec.Decode(data)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("slow: %v for %d bytes: %v %+v", d, len(data), err, res.Info)
		}
		if err != nil {
			if !errors.Is(err, preprocess.ErrFormat) && !errors.Is(err, preprocess.ErrCorrupt) && !errors.Is(err, preprocess.ErrTooLarge) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if len(res.Tensor) != spec.Len() || res.Width <= 0 || res.Height <= 0 {
			t.Fatalf("bad result %+v", res.Info)
		}
		for _, v := range res.Tensor {
			if math.IsNaN(float64(v)) || v < 0 || v > 1 {
				t.Fatalf("value %v outside [0, 1]", v)
			}
		}
	})
}

func TestGarbageIsRejected(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	spec := preprocess.DefaultSpec(16)
	for range 200 {
		data := make([]byte, rng.IntN(2000))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		if rng.IntN(2) == 0 && len(data) > 3 {
			copy(data, []byte{0xFF, 0xD8, 0xFF}) // JPEG magic, garbage after
		}
		if _, err := spec.Decode(data); err == nil {
			t.Fatalf("garbage of %d bytes decoded", len(data))
		}
	}
}
