package synth

import (
	"math"
	"math/rand/v2"
)

// scene is everything needed to render one image: cheap to sample (no
// pixels), so the manifest record of an image can be rebuilt without
// rendering it.
type scene struct {
	slot
	truth   Class
	flipped bool
	subtype string // bacteria or virus when truth is PNEUMONIA
	subtle  bool
	pattern string

	w, h int // image size in pixels

	// View: the image pixel grid placed over the world frame.
	cx, cy  float64 // world point at the image center
	scale   float64 // world units per image pixel
	rot     float64 // radians
	longW   float64 // world length of the image's long side
	tone    tone
	sharpen float64 // unsharp-mask amount
	sharpR  float64 // unsharp-mask radius (world units)
	gradX   float64 // linear intensity ramps (heel effect, processing)
	gradY   float64
	sigma   float64 // quantum noise standard deviation, gray levels
	collim  collimation
	marker  marker

	anat    anatomy
	lesions []lesion

	severity   float64
	difficulty float64

	texSeed, noiseSeed uint64
}

// tone maps attenuation A to gray: v = (1-exp(-k*A)) / (1-exp(-k*aRef));
// gray = 255 * clamp(b + c*v, 0, 1)^gamma.
type tone struct {
	k, b, c, gamma float64
}

type collimation struct {
	on         bool
	l, r, t, b int // margins in pixels
	value      float64
}

type marker struct {
	on     bool
	letter byte // 'L' or 'R'
	x, y   int  // top-left pixel
	cell   int  // pixels per font cell
	value  float64
	box    bool
}

// sampleScene draws the complete description of one image.
func sampleScene(o Options, s slot) *scene {
	sc := &scene{slot: s}
	sc.truth, sc.flipped, sc.subtype, sc.subtle = sampleMeta(o, s)

	view := newRand(s.key, streamView)
	sc.w, sc.h = sampleSize(view, o.MinSize, o.MaxSize)
	sc.anat = sampleAnatomy(newRand(s.key, streamAnatomy), o.Difficulty)
	sc.sampleView(view, o.Difficulty)

	noise := newRand(s.key, streamNoise)
	sc.texSeed, sc.noiseSeed = noise.Uint64(), noise.Uint64()|1

	if sc.truth == Pneumonia {
		sc.sampleLesions(newRand(s.key, streamLesion), o.Difficulty)
	}
	sc.scoreDifficulty()
	return sc
}

// sampleMeta draws the label noise, the pneumonia subtype of images whose
// name does not carry one, and whether a pneumonia is subtle.
func sampleMeta(o Options, s slot) (truth Class, flipped bool, subtype string, subtle bool) {
	meta := newRand(s.key, streamMeta)
	truth = s.folder
	if meta.Float64() < o.LabelNoise {
		flipped = true
		truth = other(s.folder)
	}
	subtleDraw := meta.Float64()
	subtypeDraw := meta.Float64()
	if truth == Pneumonia {
		subtype = s.subtype
		if subtype == "" {
			subtype = Bacteria
			if subtypeDraw < 0.35 {
				subtype = Virus
			}
		}
		subtle = subtleDraw < o.SubtleShare
	}
	return truth, flipped, subtype, subtle
}

func other(c Class) Class {
	if c == Normal {
		return Pneumonia
	}
	return Normal
}

// sampleSize draws the long side from [lo, hi] biased towards small images
// (mean lo + 0.31*(hi-lo), like the skewed sizes of the Kaggle images),
// and an aspect ratio w/h from [0.8, 1.25]; both sides are clamped to range.
func sampleSize(r *rand.Rand, lo, hi int) (w, h int) {
	long := float64(lo) + float64(hi-lo)*math.Pow(r.Float64(), 2.2)
	aspect := math.Exp(uniform(r, math.Log(0.8), math.Log(1.25)))
	fw, fh := long, long
	if aspect >= 1 {
		fh = long / aspect
	} else {
		fw = long * aspect
	}
	w = min(max(int(math.Round(fw)), lo), hi)
	h = min(max(int(math.Round(fh)), lo), hi)
	return w, h
}

// sampleView places the image over the chest and draws exposure,
// processing, collimation and the side marker. None of it depends on the
// label.
func (sc *scene) sampleView(r *rand.Rand, difficulty float64) {
	a := &sc.anat
	w, h := float64(sc.w), float64(sc.h)

	// Field of view: the thorax fills most of the image in at least one
	// direction; the lungs always fit.
	needTop, needBot := -0.1, a.h*1.06
	needX := a.lungW + 0.06
	scaleW := 2 * a.bodyW / (uniform(r, 0.85, 1.2) * w)
	scaleH := (needBot - needTop) / (uniform(r, 0.68, 0.9) * h)
	scale := math.Max(scaleW, scaleH)
	scale = math.Max(scale, (needBot-needTop+0.06)/h)
	scale = math.Max(scale, (2*needX+0.06)/w)
	sc.scale = scale
	ww, hw := w*scale, h*scale
	slackY := hw - (needBot - needTop)
	top := needTop - slackY*uniform(r, 0.3, 0.65)
	sc.cy = top + hw/2
	slackX := ww - 2*needX
	sc.cx = uniform(r, -0.2, 0.2) * slackX
	sc.rot = normal(r, 0, 0.03)
	sc.longW = math.Max(ww, hw)

	// Exposure and contrast: wide, label-independent variation.
	t := tone{
		k:     uniform(r, 1.0, 1.9),
		b:     uniform(r, -0.08, 0.16),
		c:     uniform(r, 0.78, 1.12),
		gamma: math.Exp(uniform(r, math.Log(0.72), math.Log(1.4))),
	}
	noiseScale := lerp(0.8, 1.3, difficulty)
	sc.sigma = uniform(r, 1.8, 3.4) * noiseScale
	for _, m := range a.mimics {
		switch m {
		case MimicOverexposed:
			t.k *= 0.75
			t.b -= 0.06
			t.gamma *= 1.25
		case MimicUnderexposed:
			t.c *= 0.85
			t.b += 0.08
			t.gamma *= 0.8
			sc.sigma *= 1.4
		}
	}
	sc.tone = t
	sc.sharpen = uniform(r, 0.1, 0.8)
	sc.sharpR = uniform(r, 0.08, 0.16)
	sc.gradX = normal(r, 0, 0.05)
	sc.gradY = normal(r, 0, 0.06)

	// Collimation outside the lungs, bright (unexposed) or dark.
	if r.Float64() < 0.35 {
		x0, y0, x1, y1 := sc.lungBox()
		c := collimation{on: true}
		c.l = int(math.Min(uniform(r, 0, 0.09)*w, x0*0.9))
		c.r = int(math.Min(uniform(r, 0, 0.09)*w, (w-x1)*0.9))
		c.t = int(math.Min(uniform(r, 0, 0.07)*h, y0*0.9))
		c.b = int(math.Min(uniform(r, 0, 0.07)*h, (h-y1)*0.9))
		if r.Float64() < 0.6 {
			c.value = uniform(r, 150, 240)
		} else {
			c.value = uniform(r, 0, 25)
		}
		c.l, c.r, c.t, c.b = max(c.l, 0), max(c.r, 0), max(c.t, 0), max(c.b, 0)
		sc.collim = c
	}

	// Side marker: a lead letter in an upper or lower corner; "L" on the
	// patient's left (image right), "R" on the image left.
	if r.Float64() < 0.55 {
		m := marker{on: true, value: uniform(r, 225, 255), box: r.Float64() < 0.35}
		m.cell = max(2, int(math.Round(h*uniform(r, 0.035, 0.06)/7)))
		lw, lh := 5*m.cell, 7*m.cell
		if m.box {
			lw, lh = 7*m.cell, 9*m.cell
		}
		margin := int(uniform(r, 0.02, 0.05) * w)
		right := r.Float64() < 0.6
		bottom := r.Float64() < 0.3
		m.letter = 'R'
		m.x = sc.collim.l + margin
		if right {
			m.letter = 'L'
			m.x = sc.w - sc.collim.r - margin - lw
		}
		m.y = sc.collim.t + margin
		if bottom {
			m.y = sc.h - sc.collim.b - margin - lh
		}
		if m.x >= 0 && m.y >= 0 && m.x+lw <= sc.w && m.y+lh <= sc.h {
			sc.marker = m
		}
	}
}

// toImage maps a world point to continuous image coordinates (pixel
// centers at i+0.5).
func (sc *scene) toImage(x, y float64) (px, py float64) {
	dx, dy := x-sc.cx, y-sc.cy
	c, s := math.Cos(sc.rot), math.Sin(sc.rot)
	u := c*dx + s*dy
	v := -s*dx + c*dy
	return u/sc.scale + float64(sc.w)/2, v/sc.scale + float64(sc.h)/2
}

// toWorld maps continuous image coordinates to the world frame.
func (sc *scene) toWorld(px, py float64) (x, y float64) {
	u := (px - float64(sc.w)/2) * sc.scale
	v := (py - float64(sc.h)/2) * sc.scale
	c, s := math.Cos(sc.rot), math.Sin(sc.rot)
	return sc.cx + c*u - s*v, sc.cy + s*u + c*v
}

// lungBox is the bounding box of the lung fields in image pixels.
func (sc *scene) lungBox() (x0, y0, x1, y1 float64) {
	a := &sc.anat
	x0, y0 = math.Inf(1), math.Inf(1)
	x1, y1 = math.Inf(-1), math.Inf(-1)
	for _, p := range [][2]float64{{-a.lungW, -0.02}, {a.lungW, -0.02}, {-a.lungW, a.h}, {a.lungW, a.h}} {
		px, py := sc.toImage(p[0], p[1])
		x0, y0 = math.Min(x0, px), math.Min(y0, py)
		x1, y1 = math.Max(x1, px), math.Max(y1, py)
	}
	return x0, y0, x1, y1
}

// scoreDifficulty sets a heuristic per-image difficulty in [0, 1]: for
// pneumonia, how little evidence there is (subtle cases score high); for
// normal images, how much disease-like anatomy there is. Mimics add to both.
func (sc *scene) scoreDifficulty() {
	mimic := 0.0
	for _, m := range sc.anat.mimics {
		switch m {
		case MimicDenseVessels, MimicNippleShadows:
			mimic += 0.35
		case MimicBreastShadows, MimicPoorInspiration, MimicScapula:
			mimic += 0.25
		default:
			mimic += 0.15
		}
	}
	mimic = math.Min(mimic, 0.6)
	if sc.truth == Normal {
		sc.difficulty = clamp(0.1+mimic, 0, 1)
		return
	}
	d := 1 - sc.severity
	if sc.subtle {
		d = 0.75 + 0.25*(1-sc.severity)
	}
	sc.difficulty = clamp(d*0.85+mimic*0.25, 0, 1)
}
