package synth

import (
	"math"
	"math/rand/v2"
)

// The anatomy lives in a world frame: X to the image right (the patient's
// left in a PA view), Y downwards. The lung apices are at Y = 0, the
// costophrenic angles at Y = H, and the inner half width of the rib cage is
// about 1. Lung geometry is written in terms of t = Y/H and s = |X|, the
// distance from the midline. Side -1 is the image left (patient's right
// lung), side +1 the image right (patient's left lung, with the heart).

// Mimics: label-independent "hard" anatomy that resembles disease.
const (
	MimicDenseVessels    = "dense_vessels"
	MimicPoorInspiration = "poor_inspiration"
	MimicBreastShadows   = "breast_shadows"
	MimicNippleShadows   = "nipple_shadows"
	MimicScapula         = "scapula_overlap"
	MimicOverexposed     = "overexposed"
	MimicUnderexposed    = "underexposed"
)

// anatomy holds the sampled shape and density parameters of one chest.
type anatomy struct {
	h     float64 // lung height, apex to costophrenic angle
	lungW float64 // lateral lung wall at its widest
	apexK float64 // depth of the apical dome in units of h

	bodyW, shoulderW, neckW float64 // soft tissue half widths
	neckY                   float64
	waist                   float64 // narrowing of the abdomen
	softD                   float64 // attenuation of the full soft tissue thickness
	wallT                   float64 // chest wall share of the path through the lungs
	airFrac                 float64 // fraction of the rest replaced by air in the lungs
	abdD                    float64 // extra density below the diaphragm
	arms                    bool
	humerusD, humerusR      float64
	humerusY                float64
	armW, armGap, armD      float64

	medW                  float64 // upper mediastinum half width
	knob, knobT           float64 // aortic knob bulge and level (t)
	hx, hy, hrx, hry      float64 // heart ellipse (center X, Y; radii)
	heartD                float64
	domeT                 [2]float64 // dome level (t) of the image-left and image-right hemidiaphragm
	domeS                 float64    // dome peak distance from midline, as a fraction of lungW
	spX, spW, spD, vP, v0 float64    // spine: center, half width, density, vertebra period and phase
	pedD                  float64
	trachW, carinaT       float64
	gas                   []blob // bowel gas below the diaphragm (negative amp)
	bubble                bool
	bubbleX, bubbleRX     float64
	bubbleRY, bubbleD     float64

	clavY, clavRise, clavW, clavD float64
	ribs                          []rib
	ribD                          float64

	segs    []segment // vessels and hila, multiplied by the lung mask
	airSegs []segment // trachea and main bronchi, added directly

	parAmp, parScale float64 // parenchymal texture

	breast                             bool
	breastX, breastY, breastR, breastD float64
	nipple                             bool
	nippleX, nippleY, nippleR, nippleD float64
	scapula                            bool
	scapX, scapD                       float64

	mimics []string
}

// rib is one rib's centerline y(s) = y0 + c*((s-sp)^2 - sp^2) for a posterior
// rib, or y(s) = ya + k1*(se-s) + k2*(se-s)^2 for an anterior one, drawn on
// s in [s0, s1].
type rib struct {
	anterior       bool
	side           int
	y0, c, sp      float64
	ya, k1, k2, se float64
	s0, s1         float64
	w0, w1         float64 // half width at s0 and s1
	d              float64 // density factor
	fade0, fade1   float64 // fade lengths at the ends
}

func (r *rib) center(s float64) float64 {
	if r.anterior {
		u := r.se - s
		return r.ya + r.k1*u + r.k2*u*u
	}
	return r.y0 + r.c*((s-r.sp)*(s-r.sp)-r.sp*r.sp)
}

// segment is a tapered capsule from (x0, y0) to (x1, y1), half width w,
// peak attenuation amp.
type segment struct {
	x0, y0, x1, y1 float64
	w, amp         float64
	flat           bool // flat-topped profile (air columns), else parabolic
}

// lateral is the lateral lung wall at level t.
func (a *anatomy) lateral(t float64) float64 {
	if t >= 1 {
		return a.lungW
	}
	if t < 0 {
		t = 0
	}
	return a.lungW * (1 - 0.42*math.Pow(1-t, 2.2))
}

// heartChord is the half chord of the heart at Y (0 outside): an ellipse
// whose upper part narrows smoothly into the mediastinum, so the heart
// borders have no shelf where they meet the great vessels.
func (a *anatomy) heartChord(y float64) float64 {
	q := (y - a.hy) / a.hry
	if q*q >= 1 {
		return 0
	}
	return a.hrx * math.Sqrt(1-q*q) * smoothstep(a.hy-a.hry, a.hy-0.35*a.hry, y)
}

// medial returns the medial lung borders (distance from the midline) of the
// image-left and image-right lung at Y.
func (a *anatomy) medial(y float64) (left, right float64) {
	t := y / a.h
	c := a.heartChord(y)
	left = softMax(a.medW+0.02*smoothstep(0.0, 0.3, t), c-a.hx, 0.03)
	k := a.knob * math.Exp(-sq((t-a.knobT)/0.06))
	pa := 0.4 * a.knob * math.Exp(-sq((t-a.knobT-0.14)/0.05))
	right = softMax(a.medW+k+pa, a.hx+c, 0.03)
	return left, right
}

// apexTop is the upper lung border (t) at distance s from the midline.
func (a *anatomy) apexTop(s float64) float64 {
	sa := 0.48 * a.lungW
	return a.apexK * sq((s-sa)/sa)
}

// dome is the diaphragm level (t) at distance s from the midline on a side
// (0 image left, 1 image right).
func (a *anatomy) dome(side int, s float64) float64 {
	sd := a.domeS * a.lungW
	td := a.domeT[side]
	if s >= sd {
		return td + (1-td)*sq((s-sd)/(a.lungW-sd))
	}
	return td + 0.07*sq((sd-s)/sd)
}

// lungDist is an approximate signed distance (world units) to the border of
// the lung fields: positive inside. side is 0 for the image-left lung, 1 for
// the image-right one.
func (a *anatomy) lungDist(x, y float64) (d float64, side int) {
	s := x
	if x < 0 {
		s = -x
	} else {
		side = 1
	}
	ml, mr := a.medial(y)
	m := ml
	if side == 1 {
		m = mr
	}
	t := y / a.h
	d = s - m
	d = math.Min(d, a.lateral(t)-s)
	d = math.Min(d, (t-a.apexTop(s))*a.h*0.8)
	d = math.Min(d, (a.dome(side, s)-t)*a.h)
	return d, side
}

// bodyHalfWidth is the soft-tissue half width at Y.
// The trapezius slopes out from the neck and rounds into the shoulder.
func (a *anatomy) bodyHalfWidth(y float64) float64 {
	u := clamp((y-a.neckY)/0.45, 0, 1)
	w := a.neckW + (a.shoulderW-a.neckW)*(1-(1-u)*(1-u)*(1-u))
	w = lerp(w, a.bodyW, smoothstep(0.1, 0.6*a.h, y))
	return w - a.waist*smoothstep(a.h, 1.6*a.h, y)
}

func sq(x float64) float64 { return x * x }

// softMax is a smooth maximum of a and b with blending width k.
func softMax(a, b, k float64) float64 {
	h := clamp(0.5+0.5*(b-a)/k, 0, 1)
	return lerp(a, b, h) + k*h*(1-h)
}

// hardProb is the probability that an image gets hard (mimicking) anatomy.
func hardProb(difficulty float64) float64 { return 0.15 + 0.45*difficulty }

// sampleAnatomy draws a chest. The draws never depend on the label.
func sampleAnatomy(r *rand.Rand, difficulty float64) anatomy {
	var a anatomy
	hard := map[string]bool{}
	if r.Float64() < hardProb(difficulty) {
		kinds := []string{MimicDenseVessels, MimicPoorInspiration, MimicBreastShadows,
			MimicNippleShadows, MimicScapula, MimicOverexposed, MimicUnderexposed}
		weights := []float64{3, 2, 1.5, 1.5, 1, 1, 1}
		n := 1
		if r.Float64() < 0.35 {
			n = 2
		}
		for range n {
			hard[pick(r, kinds, weights)] = true
		}
		if hard[MimicOverexposed] && hard[MimicUnderexposed] {
			delete(hard, MimicUnderexposed)
		}
	}
	for _, k := range []string{MimicDenseVessels, MimicPoorInspiration, MimicBreastShadows,
		MimicNippleShadows, MimicScapula, MimicOverexposed, MimicUnderexposed} {
		if hard[k] {
			a.mimics = append(a.mimics, k)
		}
	}

	a.lungW = uniform(r, 0.93, 1.0)
	a.h = uniform(r, 1.3, 1.75)
	ctr := uniform(r, 0.40, 0.50) // cardiothoracic ratio
	if hard[MimicPoorInspiration] {
		a.h = uniform(r, 1.02, 1.25)
		ctr = uniform(r, 0.52, 0.60)
	}
	a.apexK = uniform(r, 0.16, 0.26)
	a.bodyW = a.lungW + uniform(r, 0.08, 0.3)
	a.shoulderW = a.bodyW + uniform(r, 0.05, 0.22)
	a.neckW = uniform(r, 0.3, 0.42)
	a.neckY = uniform(r, -0.75, -0.5)
	a.wallT = uniform(r, 0.14, 0.24)
	a.waist = uniform(r, 0, 0.08)
	a.softD = uniform(r, 0.9, 1.1)
	a.airFrac = uniform(r, 0.88, 0.97)
	a.abdD = uniform(r, 0.12, 0.3)
	// Humeral heads at the upper corners (often outside the field of view).
	a.humerusD = uniform(r, 0.12, 0.22)
	a.humerusR = uniform(r, 0.11, 0.15)
	a.humerusY = a.neckY + uniform(r, 0.45, 0.6)
	if r.Float64() < 0.3 {
		a.arms = true
		a.armW = uniform(r, 0.16, 0.26)
		a.armGap = uniform(r, 0.0, 0.12)
		a.armD = uniform(r, 0.35, 0.6)
	}

	a.medW = uniform(r, 0.12, 0.17)
	a.knob = uniform(r, 0.05, 0.12)
	a.knobT = uniform(r, 0.16, 0.24)
	a.hrx = ctr * a.lungW
	a.hx = a.hrx * uniform(r, 0.28, 0.42)
	a.hy = a.h * uniform(r, 0.8, 0.88)
	a.hry = a.h * uniform(r, 0.36, 0.44)
	a.heartD = uniform(r, 0.05, 0.12)
	a.domeT[0] = uniform(r, 0.8, 0.88)
	a.domeT[1] = a.domeT[0] + uniform(r, 0.015, 0.06) // right hemidiaphragm (image left) higher
	a.domeS = uniform(r, 0.42, 0.55)
	a.spX = normal(r, 0, 0.025)
	a.spW = uniform(r, 0.085, 0.11)
	a.spD = uniform(r, 0.07, 0.13)
	a.pedD = uniform(r, 0.01, 0.03)
	a.trachW = uniform(r, 0.04, 0.055)
	a.carinaT = uniform(r, 0.3, 0.38)
	if r.Float64() < 0.6 {
		a.bubble = true
		a.bubbleX = uniform(r, 0.35, 0.6) * a.lungW
		a.bubbleRX = uniform(r, 0.1, 0.18)
		a.bubbleRY = uniform(r, 0.05, 0.1)
		a.bubbleD = uniform(r, 0.1, 0.3)
	}

	for range r.IntN(7) {
		a.gas = append(a.gas, blob{
			x:   uniform(r, -0.8, 0.8) * a.lungW,
			y:   a.h * uniform(r, 1.1, 1.6),
			r:   uniform(r, 0.04, 0.1),
			amp: -uniform(r, 0.06, 0.18),
		})
	}
	a.clavY = uniform(r, 0.16, 0.28)
	a.clavRise = uniform(r, 0.12, 0.24)
	a.clavW = uniform(r, 0.034, 0.046)
	a.clavD = uniform(r, 0.22, 0.32)
	a.ribD = uniform(r, 0.07, 0.12)
	a.sampleRibs(r)

	a.parAmp = uniform(r, 0.02, 0.04)
	a.parScale = uniform(r, 0.05, 0.08)
	a.sampleVessels(r, hard[MimicDenseVessels])

	if hard[MimicBreastShadows] {
		a.breast = true
		a.breastX = uniform(r, 0.45, 0.65) * a.lungW
		a.breastY = a.h * uniform(r, 0.62, 0.78)
		a.breastR = uniform(r, 0.3, 0.45)
		a.breastD = uniform(r, 0.06, 0.12)
	}
	if hard[MimicNippleShadows] {
		a.nipple = true
		a.nippleX = uniform(r, 0.45, 0.65) * a.lungW
		a.nippleY = a.h * uniform(r, 0.62, 0.8)
		a.nippleR = uniform(r, 0.022, 0.04)
		a.nippleD = uniform(r, 0.1, 0.2)
	}
	if hard[MimicScapula] {
		a.scapula = true
		a.scapX = uniform(r, 0.72, 0.86) * a.lungW
		a.scapD = uniform(r, 0.06, 0.12)
	}
	return a
}

func pick(r *rand.Rand, items []string, weights []float64) string {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	u := r.Float64() * total
	for i, w := range weights {
		if u < w {
			return items[i]
		}
		u -= w
	}
	return items[len(items)-1]
}

// sampleRibs places ten posterior ribs and eight anterior ribs on each side.
// Posterior ribs start at the spine, rise a little and curve down to the
// lateral wall; anterior ribs run from the lateral wall down and medially and
// fade where the costal cartilage begins.
func (a *anatomy) sampleRibs(r *rand.Rand) {
	const nPost = 11
	first := uniform(r, -0.16, -0.08)
	// Spacing so that the 10th posterior rib crosses the dome.
	base := (a.h*a.domeT[0] - first) / (9 * 1.16)
	a.vP = base * uniform(r, 1.0, 1.08)
	a.v0 = first + uniform(r, 0, a.vP)
	y0 := make([]float64, nPost)
	y := first
	for k := range nPost {
		y0[k] = y
		y += base * (1 + 0.035*float64(k)) * uniform(r, 0.96, 1.04)
	}
	for _, side := range []int{-1, 1} {
		for k := range nPost {
			rb := rib{side: side, sp: uniform(r, 0.18, 0.28), c: uniform(r, 0.6, 0.8), d: uniform(r, 0.85, 1.15)}
			rb.y0 = y0[k] + normal(r, 0, 0.008)
			rb.s0 = 0.06
			rb.s1 = a.lateral(math.Max(0, (rb.y0+0.08)/a.h)) + 0.05
			rb.w0, rb.w1 = 0.024, 0.04
			rb.fade0, rb.fade1 = 0.04, 0.08
			if k == 0 { // first rib: short, strongly curved, around the apex
				rb.c, rb.sp = 0.9, 0.35
				rb.s1 = 0.62 * a.lungW
				rb.w0, rb.w1 = 0.022, 0.03
				rb.fade1 = 0.1
			}
			scale := uniform(r, 0.9, 1.15)
			rb.w0 *= scale
			rb.w1 *= scale
			a.ribs = append(a.ribs, rb)
			if k >= 1 && k <= 8 {
				an := rib{anterior: true, side: side, d: uniform(r, 0.4, 0.6)}
				an.se = a.lungW + 0.05
				an.ya = rb.center(an.se)
				an.k1 = uniform(r, 0.28, 0.42)
				an.k2 = uniform(r, 0.15, 0.3)
				an.s0, an.s1 = uniform(r, 0.22, 0.35), an.se
				an.w0, an.w1 = 0.036*scale, 0.03*scale
				an.fade0, an.fade1 = 0.16, 0.05
				a.ribs = append(a.ribs, an)
			}
		}
	}
}

// sampleVessels builds the hila and branching vascular trees that radiate
// from them, plus the trachea and main bronchi.
func (a *anatomy) sampleVessels(r *rand.Rand, dense bool) {
	amp := uniform(r, 0.7, 1.0)
	wScale := uniform(r, 0.9, 1.1)
	depth := 4
	if dense {
		amp *= uniform(r, 1.25, 1.5)
		wScale *= uniform(r, 1.15, 1.35)
		depth = 5
	}
	const vesselK = 2.0 // a vessel of half width w adds vesselK*w^0.75 (thin ones stay visible)
	ml, _ := a.medial(0.42 * a.h)
	_, mr := a.medial(0.36 * a.h)
	hila := [2][2]float64{
		{-(ml + 0.07), 0.44 * a.h}, // image left: the patient's right hilum, lower
		{mr + 0.05, 0.38 * a.h},
	}
	for i, side := range []float64{-1, 1} {
		hxp, hyp := hila[i][0], hila[i][1]
		// Main pulmonary artery branches: thick, short, forming the hilar shadow.
		for range 3 {
			ang := uniform(r, 0.1, 1.2) // radians from straight down, towards lateral
			l := uniform(r, 0.08, 0.16)
			w := uniform(r, 0.03, 0.05) * wScale
			x1 := hxp + side*math.Sin(ang)*l
			y1 := hyp + math.Cos(ang)*l
			a.segs = append(a.segs, segment{x0: hxp - side*0.03, y0: hyp - 0.03, x1: x1, y1: y1, w: w, amp: 0.09 * amp})
		}
		n := 5 + r.IntN(3)
		for j := range n {
			// Spread the primary branches from up-lateral to down, biased
			// down; they leave the hilum at different points.
			f := (float64(j) + r.Float64()) / float64(n)
			ang := lerp(-0.25, 2.5, f) // 0 = down, pi/2 = lateral, >pi/2 = up
			l := uniform(r, 0.14, 0.24)
			w := lerp(0.024, 0.016, f) * wScale * uniform(r, 0.85, 1.15)
			x0 := hxp + side*(0.02+0.04*math.Sin(ang))
			y0 := hyp + 0.04*math.Cos(ang) + uniform(r, -0.03, 0.03)
			a.branch(r, x0, y0, side, ang, l, w, depth, amp*vesselK)
		}
		if dense { // end-on vessels: small dense dots near the hilum
			for range 4 + r.IntN(6) {
				x := hxp + side*uniform(r, 0.05, 0.3)
				y := hyp + uniform(r, -0.25, 0.3)
				w := uniform(r, 0.012, 0.02)
				a.segs = append(a.segs, segment{x0: x, y0: y, x1: x, y1: y, w: w, amp: vesselK * 1.4 * math.Pow(w, 0.75) * amp})
			}
		}
	}
	// Trachea and main bronchi (negative attenuation: air).
	cy := a.carinaT * a.h
	trD := uniform(r, 0.08, 0.14)
	tx := a.spX * 0.5
	a.airSegs = append(a.airSegs,
		segment{x0: tx, y0: -0.9, x1: 0.005, y1: cy, w: a.trachW, amp: -trD, flat: true},
		segment{x0: 0.005, y0: cy, x1: -0.16, y1: cy + uniform(r, 0.14, 0.2), w: a.trachW * 0.8, amp: -trD * 0.8, flat: true},
		segment{x0: 0.005, y0: cy, x1: 0.2, y1: cy + uniform(r, 0.09, 0.14), w: a.trachW * 0.75, amp: -trD * 0.8, flat: true},
	)
}

// branch adds a vessel segment and recurses into two thinner children.
func (a *anatomy) branch(r *rand.Rand, x, y, side, ang, l, w float64, depth int, k float64) {
	x1 := x + side*math.Sin(ang)*l
	y1 := y + math.Cos(ang)*l
	if d, _ := a.lungDist(x1, y1); d < -0.02 {
		// Shorten branches that would leave the lung.
		l *= 0.5
		x1 = x + side*math.Sin(ang)*l
		y1 = y + math.Cos(ang)*l
		depth = min(depth, 1)
	}
	// Two sub-segments with a displaced midpoint: vessels are gently curved.
	off := normal(r, 0, 0.1) * l
	mx := (x+x1)/2 + off*math.Cos(ang)*side
	my := (y+y1)/2 - off*math.Sin(ang)
	amp := k * math.Pow(w, 0.75)
	a.segs = append(a.segs,
		segment{x0: x, y0: y, x1: mx, y1: my, w: w, amp: amp},
		segment{x0: mx, y0: my, x1: x1, y1: y1, w: w * 0.92, amp: amp * 0.96})
	if depth <= 1 || w < 0.004 {
		return
	}
	spread := uniform(r, 0.25, 0.5)
	for c, sgn := range []float64{-1, 1} {
		if c == 1 && r.Float64() < 0.3 {
			continue
		}
		na := ang + sgn*spread*uniform(r, 0.6, 1.1)
		a.branch(r, x1, y1, side, na, l*uniform(r, 0.65, 0.82), w*uniform(r, 0.66, 0.8), depth-1, k)
	}
}
