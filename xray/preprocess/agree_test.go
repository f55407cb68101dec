package preprocess_test

import (
	"fmt"
	"image"
	"math"
	"testing"

	"github.com/healthcare-ai/platform/xray/preprocess"
	"github.com/healthcare-ai/platform/xray/turbojpeg"
)

// Agreement of the libjpeg-turbo fast path with the exact plain path, in
// gray levels (1 = 1/255 of the value range). See TestFastMatchesPlain.
const (
	maxAbsTolerance  = 1.5 // any single tensor value; measured worst 1.0
	meanAbsTolerance = 0.4 // mean over a tensor; measured worst 0.30
)

type agreeCase struct {
	name string
	data []byte
}

func agreeCases(tb testing.TB) []agreeCase {
	var cases []agreeCase
	sizes := [][2]int{
		{1024, 1024}, {1500, 1800}, {1001, 777}, {511, 333}, // r = 8
		{300, 260}, {257, 255}, // r = 4
		{200, 150}, {129, 131}, // r = 2
		{100, 90}, {64, 64}, {40, 50}, // r = 1 (the last enlarges)
	}
	if testing.Short() {
		sizes = [][2]int{{1001, 777}, {257, 255}, {129, 131}, {100, 90}, {40, 50}}
	}
	kinds := []string{smooth, xray, noisy, edges}
	for i, sz := range sizes {
		for j, kind := range kinds {
			g := genGray(kind, sz[0], sz[1], uint64(i*10+j))
			q := []int{75, 85, 90, 95}[(i+j)%4]
			cases = append(cases, agreeCase{fmt.Sprintf("%s/%dx%d/gray/q%d", kind, sz[0], sz[1], q), encodeJPEG(tb, g, q)})
			// colour JPEG from image/jpeg: YCbCr 4:2:0
			cases = append(cases, agreeCase{fmt.Sprintf("%s/%dx%d/color420/q%d", kind, sz[0], sz[1], q), encodeJPEG(tb, colourise(g), q)})
			if turbojpeg.Available {
				// libjpeg-turbo's own encoder: 4:4:4, progressive
				data, err := turbojpeg.Encode(colourise(g), turbojpeg.EncodeOptions{Quality: q, Subsampling: turbojpeg.Samp444, Progressive: true})
				if err != nil {
					tb.Fatal(err)
				}
				cases = append(cases, agreeCase{fmt.Sprintf("%s/%dx%d/color444prog/q%d", kind, sz[0], sz[1], q), data})
			}
		}
	}
	return cases
}

// TestFastMatchesPlain compares the libjpeg-turbo path with the exact Go path
// on varied JPEGs: sizes that are not multiples of 8, odd sizes, all four
// reduction factors, smooth/X-ray-like/noisy/hard-edged content, qualities
// 75-95, gray and colour (4:2:0 baseline from image/jpeg, 4:4:4 progressive
// from libjpeg-turbo).
//
// Measured on these 132 cases (gray levels, run with -v for the table):
//
//   - r = 8 (DCT-domain 1/8 decode): max 0.74, mean 0.12-0.15 on smooth and
//     X-ray-like content, worst mean 0.30 on hard-edged content at q75. The
//     1/8 output is the block's DC term rounded to 8 bits (up to 0.5), while
//     the plain path averages full-size pixels that were each rounded and
//     clamped to 0..255; clamping the IDCT overshoot around saturated edges
//     shifts those block means, hence the larger mean on hard edges. The area
//     step averages these errors.
//   - r = 1, 2, 4 (libjpeg-turbo full-size decode, reduction in Go): max
//     1.0, mean <= 0.03: single pixels where libjpeg-turbo's and image/jpeg's
//     integer IDCTs round differently. (libjpeg-turbo's own 1/2 and 1/4
//     scaled IDCTs were measured at up to 7.5 gray levels on noisy content,
//     which is why the fast path does not use them.)
//
// The tolerances leave headroom over the measured worst case; the fast path
// stays well within the 1-2/255 that the model can tolerate.
func TestFastMatchesPlain(t *testing.T) {
	if !preprocess.FastAvailable {
		t.Skip("built without libjpeg-turbo")
	}
	spec := preprocess.DefaultSpec(64)
	worstMax, worstMean := 0.0, 0.0
	for _, tc := range agreeCases(t) {
		fast, err := spec.DecodeUsing(preprocess.PathTurbo, nil, tc.data)
		if err != nil {
			t.Fatalf("%s: fast: %v", tc.name, err)
		}
		plain, err := spec.DecodeUsing(preprocess.PathGo, nil, tc.data)
		if err != nil {
			t.Fatalf("%s: plain: %v", tc.name, err)
		}
		if fast.Info != plain.Info || fast.Reduction != plain.Reduction {
			t.Errorf("%s: fast %+v r=%d, plain %+v r=%d", tc.name, fast.Info, fast.Reduction, plain.Info, plain.Reduction)
		}
		maxd, sum := 0.0, 0.0
		for i := range fast.Tensor {
			d := math.Abs(float64(fast.Tensor[i]-plain.Tensor[i])) * 255
			maxd = max(maxd, d)
			sum += d
		}
		mean := sum / float64(len(fast.Tensor))
		worstMax, worstMean = max(worstMax, maxd), max(worstMean, mean)
		t.Logf("%-34s r=%d max %.3f mean %.4f", tc.name, fast.Reduction, maxd, mean)
		if maxd > maxAbsTolerance || mean > meanAbsTolerance {
			t.Errorf("%s: fast path differs from plain path by max %.3f, mean %.4f gray levels (tolerance %.2f, %.2f)",
				tc.name, maxd, mean, maxAbsTolerance, meanAbsTolerance)
		}
	}
	t.Logf("worst case: max %.3f, mean %.4f gray levels", worstMax, worstMean)
}

// TestAutoUsesFastPath checks that Decode picks libjpeg-turbo for JPEG and Go
// for PNG.
func TestAutoUsesFastPath(t *testing.T) {
	spec := preprocess.DefaultSpec(32)
	g := genGray(xray, 400, 300, 1)
	res, err := spec.Decode(encodeJPEG(t, g, 90))
	if err != nil {
		t.Fatal(err)
	}
	want := preprocess.PathGo
	if preprocess.FastAvailable {
		want = preprocess.PathTurbo
	}
	if res.Path != want || res.Format != preprocess.JPEG || res.Width != 400 || res.Height != 300 || res.Reduction != 8 {
		t.Errorf("jpeg: path %v, info %+v, r=%d", res.Path, res.Info, res.Reduction)
	}
	res, err = spec.Decode(encodePNG(t, g))
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != preprocess.PathGo || res.Format != preprocess.PNG {
		t.Errorf("png: path %v format %v", res.Path, res.Format)
	}
	// A PNG holds exact pixels: Decode equals Tensor of the source.
	want2, err := spec.Tensor(nil, g)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want2 {
		if res.Tensor[i] != want2[i] {
			t.Fatalf("png tensor[%d] = %v, want %v", i, res.Tensor[i], want2[i])
		}
	}
	_ = image.Point{}
}
