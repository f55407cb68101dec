package synth

import (
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// meanStd is the whole-image mean and standard deviation of the pixels.
func meanStd(pix []uint8, w, h, stride int) (mean, std float64) {
	var s, s2 float64
	for y := range h {
		for _, v := range pix[y*stride : y*stride+w] {
			f := float64(v)
			s += f
			s2 += f * f
		}
	}
	n := float64(w * h)
	mean = s / n
	return mean, math.Sqrt(math.Max(0, s2/n-mean*mean))
}

// logistic fits weights (bias last) by gradient descent on standardized
// features x (rows) and labels y in {0, 1}.
func logistic(x [][]float64, y []float64, iters int, lr float64) []float64 {
	d := len(x[0])
	w := make([]float64, d+1)
	grad := make([]float64, d+1)
	for range iters {
		clear(grad)
		for i, row := range x {
			z := w[d]
			for j, v := range row {
				z += w[j] * v
			}
			e := 1/(1+math.Exp(-z)) - y[i]
			for j, v := range row {
				grad[j] += e * v
			}
			grad[d] += e
		}
		for j := range w {
			w[j] -= lr * grad[j] / float64(len(x))
		}
	}
	return w
}

func accuracy(w []float64, x [][]float64, y []float64) float64 {
	ok := 0
	for i, row := range x {
		z := w[len(w)-1]
		for j, v := range row {
			z += w[j] * v
		}
		if (z > 0) == (y[i] > 0.5) {
			ok++
		}
	}
	return float64(ok) / float64(len(x))
}

// standardize rescales columns to zero mean and unit variance using the
// statistics of ref.
func standardize(ref [][]float64, sets ...[][]float64) {
	d := len(ref[0])
	for j := range d {
		var s, s2 float64
		for _, r := range ref {
			s += r[j]
			s2 += r[j] * r[j]
		}
		m := s / float64(len(ref))
		sd := math.Sqrt(s2/float64(len(ref)) - m*m)
		for _, set := range sets {
			for _, r := range set {
				r[j] = (r[j] - m) / sd
			}
		}
	}
}

// TestNoMeanStdShortcut: a logistic regression on the whole-image mean and
// standard deviation must not predict the class folder much better than
// chance (at most 65% test accuracy). The images are 0.15x the default size
// range, which leaves these statistics unchanged (TestStatsSizeInvariant).
func TestNoMeanStdShortcut(t *testing.T) {
	o := DefaultOptions()
	o.Train = Counts{Normal: 200, Pneumonia: 200}
	o.Val = Counts{}
	o.Test = Counts{Normal: 150, Pneumonia: 150}
	o.MinSize, o.MaxSize = 135, 300
	o.Seed = 11
	dir := t.TempDir()
	generate(t, dir, o)
	root := filepath.Join(dir, Root)
	m, err := ReadManifest(root)
	if err != nil {
		t.Fatal(err)
	}
	feats := map[Split][][]float64{}
	labels := map[Split][]float64{}
	for _, r := range m.Images {
		f, err := os.Open(filepath.Join(root, filepath.FromSlash(r.File)))
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", r.File, err)
		}
		gray, ok := img.(*image.Gray)
		if !ok {
			t.Fatalf("%s: decoded as %T, want *image.Gray", r.File, img)
		}
		mean, std := meanStd(gray.Pix, gray.Rect.Dx(), gray.Rect.Dy(), gray.Stride)
		feats[r.Split] = append(feats[r.Split], []float64{mean, std})
		y := 0.0
		if r.Label == Pneumonia {
			y = 1
		}
		labels[r.Split] = append(labels[r.Split], y)
	}
	standardize(feats[Train], feats[Train], feats[Test])
	w := logistic(feats[Train], labels[Train], 3000, 0.5)
	trainAcc := accuracy(w, feats[Train], labels[Train])
	testAcc := accuracy(w, feats[Test], labels[Test])
	t.Logf("logistic regression on (mean, std): train %.3f, test %.3f, weights %.3f", trainAcc, testAcc, w)
	if testAcc > 0.65 {
		t.Errorf("mean/std shortcut: test accuracy %.3f > 0.65", testAcc)
	}
}

// TestStatsSizeInvariant: the same scenes rendered at the default size range
// and at 0.15x of it have nearly the same mean and standard deviation, so the
// shortcut test may use small images.
func TestStatsSizeInvariant(t *testing.T) {
	big := DefaultOptions()
	small := big
	small.MinSize, small.MaxSize = 135, 300
	var rd renderer
	worst := 0.0
	for i, s := range plan(big)[:10] {
		a := sampleScene(big, s)
		b := sampleScene(small, s)
		if math.Abs(float64(a.w)*0.15-float64(b.w)) > 1.5 || math.Abs(float64(a.h)*0.15-float64(b.h)) > 1.5 {
			t.Fatalf("image %d: %dx%d vs %dx%d is not a 0.15 scale", i, a.w, a.h, b.w, b.h)
		}
		ia := rd.render(a, true, nil)
		ma, sa := meanStd(ia.Pix, a.w, a.h, ia.Stride)
		ib := rd.render(b, true, nil)
		mb, sb := meanStd(ib.Pix, b.w, b.h, ib.Stride)
		d := math.Max(math.Abs(ma-mb), math.Abs(sa-sb))
		worst = math.Max(worst, d)
		if d > 2 {
			t.Errorf("image %d: mean/std %.1f/%.1f at %dx%d vs %.1f/%.1f at %dx%d", i, ma, sa, a.w, a.h, mb, sb, b.w, b.h)
		}
	}
	t.Logf("largest difference of mean or std: %.2f gray levels", worst)
}
