package synth

import (
	"image"
	"math"
	"testing"
)

// testScenes samples n scenes of one folder with small images and no label
// noise.
func testScenes(t *testing.T, folder Class, n int, modify func(*Options)) []*scene {
	t.Helper()
	o := DefaultOptions()
	o.Train = Counts{Normal: n, Pneumonia: n}
	o.Val, o.Test = Counts{}, Counts{}
	o.MinSize, o.MaxSize = 360, 600
	o.LabelNoise = 0
	if modify != nil {
		modify(&o)
	}
	var out []*scene
	for _, s := range plan(o) {
		if s.folder == folder {
			out = append(out, sampleScene(o, s))
		}
	}
	return out
}

// meanDisk is the mean gray level of the image pixels whose world position is
// within radius r of (x, y), and how many there are.
func meanDisk(img *image.Gray, sc *scene, x, y, r float64, keep func(wx, wy float64) bool) (float64, int) {
	cx, cy := sc.toImage(x, y)
	rp := r / sc.scale
	sum, n := 0.0, 0
	for py := max(0, int(cy-rp)); py <= min(sc.h-1, int(cy+rp)); py++ {
		for px := max(0, int(cx-rp)); px <= min(sc.w-1, int(cx+rp)); px++ {
			wx, wy := sc.toWorld(float64(px)+0.5, float64(py)+0.5)
			if math.Hypot(wx-x, wy-y) > r || (keep != nil && !keep(wx, wy)) {
				continue
			}
			sum += float64(img.Pix[py*img.Stride+px])
			n++
		}
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return sum / float64(n), n
}

// TestAnatomyRealism checks the gross anatomy of normal images under all
// exposures: lungs darker than the mediastinum and the heart, the region
// under the diaphragm brighter than the lungs, and the heart extending to
// the image right (PA view: the patient's left).
func TestAnatomyRealism(t *testing.T) {
	var rd renderer
	worst := map[string]float64{}
	for i, sc := range testScenes(t, Normal, 30, nil) {
		img := rd.render(sc, false, nil)
		a := &sc.anat
		must := func(name string, x, y, r float64) float64 {
			t.Helper()
			m, n := meanDisk(img, sc, x, y, r, nil)
			if n < 20 {
				t.Fatalf("scene %d: region %s has %d pixels in the image", i, name, n)
			}
			return m
		}
		lungR := must("right lung", -0.6*a.lungW, 0.5*a.h, 0.1)
		lungL := must("left lung", 0.68*a.lungW, 0.35*a.h, 0.08)
		lungs := math.Max(lungR, lungL)
		upperMed := must("upper mediastinum", a.spX, 0.22*a.h, 0.05)
		heart := must("heart", a.hx, a.hy-0.12*a.h, 0.08)
		liver := must("under the right dome", -0.5*a.lungW, a.dome(0, 0.5*a.lungW)*a.h+0.12, 0.05)
		heartLeft := must("heart level, image right", 0.45*a.lungW, a.hy-0.1*a.h, 0.05)
		heartRight := must("heart level, image left", -0.45*a.lungW, a.hy-0.1*a.h, 0.05)
		checks := []struct {
			name       string
			bright     float64
			dark       float64
			minContast float64
		}{
			{"upper mediastinum > lungs", upperMed, lungs, 15},
			{"heart > lungs", heart, lungs, 20},
			{"under the diaphragm > lungs", liver, lungs, 20},
			{"heart bulges to the image right", heartLeft, heartRight, 15},
		}
		for _, c := range checks {
			d := c.bright - c.dark
			if v, ok := worst[c.name]; !ok || d < v {
				worst[c.name] = d
			}
			if d < c.minContast {
				t.Errorf("scene %d (%s, mimics %v): %s: %.1f vs %.1f", i, sc.base, a.mimics, c.name, c.bright, c.dark)
			}
		}
	}
	t.Logf("smallest differences: %v", worst)
}

// TestLesionsInsideLungs renders pneumonia images with and without their
// lesions from the same seed: the lesions brighten the lung where they are
// and change nothing far outside the lung fields.
func TestLesionsInsideLungs(t *testing.T) {
	var rd renderer
	minGain := map[string]float64{}
	for i, sc := range testScenes(t, Pneumonia, 30, nil) {
		with := rd.render(sc, true, nil)
		without := rd.render(sc, false, nil)
		a := &sc.anat
		// Far from the lungs (beyond the reach of the unsharp mask) the
		// images are identical, noise included.
		near := dilate(lungPixels(sc), sc.w, sc.h, int(0.4/sc.scale)+2)
		changed := 0
		for k, n := range near {
			py, px := k/sc.w, k%sc.w
			if !n && with.Pix[py*with.Stride+px] != without.Pix[py*without.Stride+px] {
				changed++
			}
		}
		if changed > 0 {
			t.Errorf("scene %d: %d pixels far from the lungs changed by the lesion", i, changed)
		}
		inLung := func(x, y float64) bool { d, _ := a.lungDist(x, y); return d > 0.02 }
		for _, l := range sc.lesions {
			r := 0.6 * math.Min(l.rx, l.ry)
			if l.kind == KindFoci || l.kind == KindPatchy {
				// Measure at the strongest blob.
				best := l.blobs[0]
				for _, b := range l.blobs {
					if b.amp*b.r*b.r > best.amp*best.r*best.r {
						best = b
					}
				}
				r = best.r * 0.6
				l.x, l.y = best.x, best.y
			}
			if l.kind == KindReticulonodular {
				// A zero-mean texture: it changes pixels both ways and the
				// mean hardly at all.
				gain, absDiff, n := diffDisk(with, without, sc, l.x, l.y, r, inLung)
				if n < 20 {
					continue
				}
				if absDiff < 2 || math.Abs(gain) > 0.5*absDiff {
					t.Errorf("scene %d reticulonodular: mean change %.2f, mean |change| %.2f; want a texture (|change| >= 2, |mean| <= half of it)", i, gain, absDiff)
				}
				if v, ok := minGain[l.kind]; !ok || absDiff < v {
					minGain[l.kind] = absDiff
				}
				continue
			}
			gain, _, n := diffDisk(with, without, sc, l.x, l.y, r, inLung)
			if n < 4 {
				continue // lesion center next to the lung border
			}
			if v, ok := minGain[l.kind]; !ok || gain < v {
				minGain[l.kind] = gain
			}
			if gain < 3 {
				t.Errorf("scene %d %s lesion: gain %.2f gray levels at its center, want >= 3", i, l.kind, gain)
			}
		}
	}
	t.Logf("smallest gain at the lesion center per kind (mean |change| for reticulonodular): %v", minGain)
}

// diffDisk compares two renderings of a scene over a world disk: the mean
// and the mean absolute value of their difference.
func diffDisk(a, b *image.Gray, sc *scene, x, y, r float64, keep func(wx, wy float64) bool) (mean, meanAbs float64, n int) {
	cx, cy := sc.toImage(x, y)
	rp := r / sc.scale
	for py := max(0, int(cy-rp)); py <= min(sc.h-1, int(cy+rp)); py++ {
		for px := max(0, int(cx-rp)); px <= min(sc.w-1, int(cx+rp)); px++ {
			wx, wy := sc.toWorld(float64(px)+0.5, float64(py)+0.5)
			if math.Hypot(wx-x, wy-y) > r || (keep != nil && !keep(wx, wy)) {
				continue
			}
			d := float64(a.Pix[py*a.Stride+px]) - float64(b.Pix[py*b.Stride+px])
			mean += d
			meanAbs += math.Abs(d)
			n++
		}
	}
	if n == 0 {
		return 0, 0, 0
	}
	return mean / float64(n), meanAbs / float64(n), n
}

// lungPixels marks the image pixels inside the lung fields.
func lungPixels(sc *scene) []bool {
	m := make([]bool, sc.w*sc.h)
	for py := range sc.h {
		for px := range sc.w {
			x, y := sc.toWorld(float64(px)+0.5, float64(py)+0.5)
			d, _ := sc.anat.lungDist(x, y)
			m[py*sc.w+px] = d > -0.02
		}
	}
	return m
}

// dilate grows a mask by r pixels (a square structuring element).
func dilate(m []bool, w, h, r int) []bool {
	tmp := make([]bool, len(m))
	out := make([]bool, len(m))
	for y := range h {
		last := -1 << 30 // last set column
		for x := -r; x < w; x++ {
			if x+r < w && m[y*w+x+r] {
				last = x + r
			}
			if x >= 0 && x-last <= r && last-x <= r {
				tmp[y*w+x] = true
			}
		}
	}
	for x := range w {
		last := -1 << 30
		for y := -r; y < h; y++ {
			if y+r < h && tmp[(y+r)*w+x] {
				last = y + r
			}
			if y >= 0 && y-last <= r && last-y <= r {
				out[y*w+x] = true
			}
		}
	}
	return out
}

// area averages a gray image to n x n pixels (the aspect is squashed), like
// the training preprocessing.
func area(src []float64, w, h, n int) []float64 {
	out := make([]float64, n*n)
	for y := range h {
		oy := y * n / h
		for x := range w {
			out[oy*n+x*n/w] += src[y*w+x]
		}
	}
	for oy := range n {
		ch := (oy+1)*h/n - oy*h/n
		for ox := range n {
			cw := (ox+1)*w/n - ox*w/n
			out[oy*n+ox] /= float64(cw * ch)
		}
	}
	return out
}

func rms(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s / float64(len(v)))
}

// TestSubtleLesionsNeedResolution checks the scale separation the
// champion/challenger experiment relies on: the difference a subtle lesion
// makes survives area-averaging to 128x128 far better than to 64x64, while
// a clear lesion's difference is about the same at both.
func TestSubtleLesionsNeedResolution(t *testing.T) {
	var rd renderer
	ratios := map[string][]float64{}
	at64 := map[bool][]float64{}
	scenes := testScenes(t, Pneumonia, 60, func(o *Options) { o.SubtleShare = 0.5; o.MinSize, o.MaxSize = 500, 700 })
	for _, sc := range scenes {
		with := rd.render(sc, true, nil)
		without := rd.render(sc, false, nil)
		diff := make([]float64, sc.w*sc.h)
		for i := range diff {
			diff[i] = float64(with.Pix[i]) - float64(without.Pix[i])
		}
		r64 := rms(area(diff, sc.w, sc.h, 64))
		r128 := rms(area(diff, sc.w, sc.h, 128))
		ratios[sc.pattern] = append(ratios[sc.pattern], r128/r64)
		at64[sc.subtle] = append(at64[sc.subtle], r64)
	}
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	for k, v := range ratios {
		t.Logf("%-16s n=%2d  rms(128)/rms(64) = %.2f", k, len(v), mean(v))
	}
	t.Logf("rms of the lesion difference at 64x64: subtle %.2f, clear %.2f", mean(at64[true]), mean(at64[false]))
	if len(ratios[KindReticulonodular]) < 5 || len(ratios[KindFoci]) < 3 || len(ratios[KindConsolidation]) < 3 {
		t.Fatalf("too few scenes per pattern: %v", ratios)
	}
	for _, k := range []string{KindReticulonodular, KindFoci} {
		if r := mean(ratios[k]); r < 2 {
			t.Errorf("%s rms(128)/rms(64) = %.2f, want >= 2", k, r)
		}
	}
	if r := mean(ratios[KindConsolidation]); r > 1.15 {
		t.Errorf("consolidation rms(128)/rms(64) = %.2f, want <= 1.15", r)
	}
	if s, c := mean(at64[true]), mean(at64[false]); s > 0.1*c {
		t.Errorf("subtle lesions at 64x64: rms %.2f, more than 0.1 x clear (%.2f)", s, c)
	}
}
