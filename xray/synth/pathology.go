package synth

import (
	"math"
	"math/rand/v2"
)

// Lesion kinds (the manifest's "kind" and the image's "pattern").
const (
	KindConsolidation   = "consolidation"   // lobar or segmental, dense, large
	KindPatchy          = "patchy"          // bronchopneumonia: several irregular blobs
	KindInterstitial    = "interstitial"    // reticular, fine lines, low contrast
	KindReticulonodular = "reticulonodular" // subtle: fine nodular texture
	KindFoci            = "foci"            // subtle: a cluster of tiny nodules
	KindGroundGlass     = "ground_glass"    // broad faint haze accompanying the above
)

// lesion is one opacity in world coordinates. Rendering multiplies it by the
// lung mask, so it never shows outside the lung fields.
type lesion struct {
	kind      string
	side      int     // 0 image left (patient's right lung), 1 image right
	x, y      float64 // envelope center
	rx, ry    float64 // envelope radii
	rot       float64
	dens      float64 // peak added attenuation
	soft      float64 // edge softness, in units of the normalized radius squared
	warp      float64 // border irregularity
	fissure   bool    // keep only the side fnx*x + fny*y < fc, with a sharp edge
	fnx, fny  float64
	fc        float64
	bronch    []segment // air bronchograms (negative), consolidation only
	blobs     []blob
	period    float64 // texture scale (world units)
	lineAmp   float64
	haze      float64
	evidence  float64 // for severity: density-weighted area (world units^2)
	boxW      float64 // extent for the manifest (world units)
	boxH      float64
	zoneLabel string
}

type blob struct{ x, y, r, amp float64 }

// maxFill is about the most density an opacity can add: the air it
// replaces (render caps the added density at the local air).
const maxFill = 0.6

// lungPoint draws a point inside one lung with at least margin to its border,
// in the band t0..t1 (fraction of lung height) and u0..u1 (fraction of the
// way from the medial to the lateral border).
func (a *anatomy) lungPoint(r *rand.Rand, side int, t0, t1, u0, u1, margin float64) (x, y float64) {
	sgn := float64(2*side - 1)
	for range 64 {
		t := uniform(r, t0, t1)
		y = t * a.h
		ml, mr := a.medial(y)
		m := ml
		if side == 1 {
			m = mr
		}
		l := a.lateral(t)
		x = sgn * (m + uniform(r, u0, u1)*(l-m))
		if d, _ := a.lungDist(x, y); d > margin {
			return x, y
		}
	}
	// Fall back to the middle of the lung, which is always inside.
	y = 0.5 * a.h
	ml, mr := a.medial(y)
	m := ml
	if side == 1 {
		m = mr
	}
	return sgn * (m + 0.5*(a.lateral(0.5)-m)), y
}

// sampleLesions draws the pathology of a true pneumonia image.
func (sc *scene) sampleLesions(r *rand.Rand, difficulty float64) {
	a := &sc.anat
	densScale := lerp(2.4, 0.7, difficulty)
	sizeScale := lerp(1.15, 0.8, difficulty)
	subtleScale := lerp(1.2, 0.8, difficulty)
	side := func() int { // right lung (image left) a little more often
		if r.Float64() < 0.58 {
			return 0
		}
		return 1
	}
	both := func(p float64) []int {
		if r.Float64() < p {
			return []int{0, 1}
		}
		return []int{side()}
	}

	if sc.subtle {
		if r.Float64() < 0.7 {
			sc.pattern = KindReticulonodular
			for _, sd := range both(0.4) {
				sc.lesions = append(sc.lesions, sc.reticulonodular(r, sd, subtleScale))
			}
		} else {
			sc.pattern = KindFoci
			for _, sd := range both(0.25) {
				sc.lesions = append(sc.lesions, sc.foci(r, sd, subtleScale))
			}
		}
	} else {
		kinds := []string{KindConsolidation, KindPatchy, KindInterstitial}
		weights := []float64{0.55, 0.35, 0.10}
		if sc.subtype == Virus {
			weights = []float64{0.12, 0.4, 0.48}
		}
		sc.pattern = pick(r, kinds, weights)
		var sides []int
		ggo := 0.0 // probability of an accompanying ground-glass haze
		switch sc.pattern {
		case KindConsolidation:
			sides = both(0.3)
			for _, sd := range sides {
				sc.lesions = append(sc.lesions, consolidation(r, a, sd, densScale, sizeScale))
				if r.Float64() < 0.25 { // multilobar
					sc.lesions = append(sc.lesions, consolidation(r, a, sd, densScale, sizeScale))
				}
			}
			ggo = 0.35
		case KindPatchy:
			sides = both(0.65)
			for _, sd := range sides {
				sc.lesions = append(sc.lesions, patchy(r, a, sd, densScale, sizeScale))
			}
			ggo = 0.6
		case KindInterstitial:
			sides = both(0.85)
			for _, sd := range sides {
				sc.lesions = append(sc.lesions, interstitial(r, a, sd, densScale, sizeScale))
			}
			ggo = 0.7
		}
		if r.Float64() < ggo {
			for _, sd := range sides {
				sc.lesions = append(sc.lesions, groundGlass(r, a, sd, densScale, sizeScale))
			}
		}
	}

	ev := 0.0
	for i := range sc.lesions {
		ev += sc.lesions[i].evidence
	}
	lungArea := 1.2 * a.lungW * a.h
	sc.severity = clamp(math.Sqrt(ev/lungArea/0.05), 0, 1)
}

// consolidation: a large dense opacity in one lobe zone, with an irregular
// border, sometimes cut sharply by a fissure and crossed by air bronchograms.
func consolidation(r *rand.Rand, a *anatomy, side int, densScale, sizeScale float64) lesion {
	l := lesion{kind: KindConsolidation, side: side}
	type zone struct {
		name           string
		t0, t1, u0, u1 float64
		rx, ry         float64
	}
	zones := []zone{
		{"upper", 0.12, 0.32, 0.3, 0.7, 0.36, 0.3},
		{"middle", 0.5, 0.72, 0.05, 0.4, 0.3, 0.26},
		{"lower", 0.62, 0.9, 0.25, 0.8, 0.38, 0.32},
	}
	z := zones[r.IntN(len(zones))]
	l.zoneLabel = z.name
	l.x, l.y = a.lungPoint(r, side, z.t0, z.t1, z.u0, z.u1, 0.05)
	l.rx = z.rx * sizeScale * uniform(r, 0.75, 1.25)
	l.ry = z.ry * sizeScale * uniform(r, 0.75, 1.25)
	l.rot = normal(r, 0, 0.35)
	l.dens = densScale * uniform(r, 0.35, 0.7)
	l.soft = uniform(r, 0.25, 0.6)
	l.warp = uniform(r, 0.25, 0.55)
	if z.name == "upper" && side == 0 && r.Float64() < 0.6 {
		// Horizontal fissure: sharp lower border.
		l.fissure = true
		l.fnx, l.fny = normal(r, 0, 0.08), 1
		l.fc = l.fnx*l.x + l.fny*(l.y+l.ry*uniform(r, 0.35, 0.7))
	}
	if r.Float64() < 0.45 {
		for range 2 + r.IntN(3) {
			ang := uniform(r, -0.6, 0.9)
			sgn := float64(2*side - 1)
			x0 := l.x - sgn*l.rx*uniform(r, 0.2, 0.6)
			y0 := l.y + uniform(r, -0.3, 0.3)*l.ry
			length := uniform(r, 0.4, 0.8) * math.Max(l.rx, l.ry)
			w := uniform(r, 0.008, 0.014)
			l.bronch = append(l.bronch, segment{
				x0: x0, y0: y0,
				x1: x0 + sgn*math.Cos(ang)*length, y1: y0 + math.Sin(ang)*length,
				w: w, amp: -0.4 * l.dens, flat: true,
			})
		}
	}
	l.evidence = math.Min(l.dens, maxFill) * math.Pi * l.rx * l.ry * 0.8
	l.boxW, l.boxH = 2*l.rx, 2*l.ry
	return l
}

// patchy: bronchopneumonia, several irregular blobs around one or two
// cluster centers in the middle and lower zones.
func patchy(r *rand.Rand, a *anatomy, side int, densScale, sizeScale float64) lesion {
	l := lesion{kind: KindPatchy, side: side, warp: uniform(r, 0.3, 0.5)}
	l.x, l.y = a.lungPoint(r, side, 0.35, 0.88, 0.15, 0.8, 0.06)
	spread := uniform(r, 0.14, 0.26) * sizeScale
	n := 10 + r.IntN(16)
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for range n {
		b := blob{
			x:   l.x + normal(r, 0, spread),
			y:   l.y + normal(r, 0, spread*1.2),
			r:   uniform(r, 0.06, 0.14) * sizeScale,
			amp: densScale * uniform(r, 0.18, 0.4),
		}
		l.blobs = append(l.blobs, b)
		l.evidence += math.Min(b.amp, maxFill) * math.Pi * b.r * b.r * 0.4
		x0, y0 = math.Min(x0, b.x-b.r), math.Min(y0, b.y-b.r)
		x1, y1 = math.Max(x1, b.x+b.r), math.Max(y1, b.y+b.r)
		l.dens = math.Max(l.dens, b.amp)
	}
	l.x, l.y = (x0+x1)/2, (y0+y1)/2
	l.boxW, l.boxH = x1-x0, y1-y0
	l.rx, l.ry = l.boxW/2, l.boxH/2
	return l
}

// interstitial: a broad perihilar or lower-zone region of fine reticular
// lines over a faint haze.
func interstitial(r *rand.Rand, a *anatomy, side int, densScale, sizeScale float64) lesion {
	l := lesion{kind: KindInterstitial, side: side}
	l.x, l.y = a.lungPoint(r, side, 0.4, 0.75, 0.15, 0.55, 0.05)
	l.rx = uniform(r, 0.26, 0.4) * sizeScale
	l.ry = uniform(r, 0.32, 0.48) * sizeScale
	l.rot = normal(r, 0, 0.3)
	l.soft = 0.7
	l.warp = 0.3
	l.period = uniform(r, 0.035, 0.055)
	l.lineAmp = densScale * uniform(r, 0.12, 0.22)
	l.haze = densScale * uniform(r, 0.06, 0.12)
	l.dens = l.haze + l.lineAmp
	l.evidence = (l.haze + 0.25*l.lineAmp) * math.Pi * l.rx * l.ry * 0.7
	l.boxW, l.boxH = 2*l.rx, 2*l.ry
	return l
}

// groundGlass: a broad, faint, mottled haze over the perihilar and lower
// lung (airspace disease that does not hide the vessels).
func groundGlass(r *rand.Rand, a *anatomy, side int, densScale, sizeScale float64) lesion {
	l := lesion{kind: KindGroundGlass, side: side, soft: 0.8, warp: 0.35}
	l.x, l.y = a.lungPoint(r, side, 0.4, 0.8, 0.2, 0.6, 0.05)
	l.rx = uniform(r, 0.3, 0.45) * sizeScale
	l.ry = uniform(r, 0.35, 0.55) * sizeScale
	l.rot = normal(r, 0, 0.3)
	l.dens = densScale * uniform(r, 0.07, 0.16)
	l.evidence = l.dens * math.Pi * l.rx * l.ry * 0.6
	l.boxW, l.boxH = 2*l.rx, 2*l.ry
	return l
}

// reticulonodular: the subtle pattern. Small nodules on a sparse jittered
// lattice of period about 1/56 of the image's long side, each ringed by
// slightly hyperlucent lung (air trapping), so that the pattern adds no
// density on average (see drawRinged). Area-averaged to 128 pixels the
// lattice has about 2.3 pixels per period and shows as a fine dotted
// texture; at 64 pixels a period is about one pixel and the texture
// averages out, leaving almost nothing.
func (sc *scene) reticulonodular(r *rand.Rand, side int, scale float64) lesion {
	a := &sc.anat
	l := lesion{kind: KindReticulonodular, side: side, soft: 0.6, warp: 0.3}
	l.x, l.y = a.lungPoint(r, side, 0.3, 0.85, 0.2, 0.75, 0.08)
	l.rx = uniform(r, 0.2, 0.32)
	l.ry = uniform(r, 0.24, 0.36)
	l.rot = normal(r, 0, 0.3)
	p := sc.longW / 56 * uniform(r, 0.9, 1.1)
	l.period = p
	amp := scale * uniform(r, 0.3, 0.45)
	l.dens = amp
	for gy := l.y - l.ry; gy <= l.y+l.ry; gy += p {
		for gx := l.x - l.rx; gx <= l.x+l.rx; gx += p {
			if r.Float64() > 0.45 {
				continue
			}
			b := blob{
				x:   gx + uniform(r, -0.2, 0.2)*p,
				y:   gy + uniform(r, -0.2, 0.2)*p,
				r:   uniform(r, 0.26, 0.32) * p,
				amp: amp * uniform(r, 0.7, 1.3),
			}
			l.blobs = append(l.blobs, b)
		}
	}
	l.evidence = amp * 0.03 * math.Pi * l.rx * l.ry
	l.boxW, l.boxH = 2*l.rx, 2*l.ry
	return l
}

// foci: the other subtle pattern, a cluster of ringed micronodules about
// 1/85 of the image's long side across: about 1.5 pixels at 128, under one
// pixel at 64.
func (sc *scene) foci(r *rand.Rand, side int, scale float64) lesion {
	a := &sc.anat
	l := lesion{kind: KindFoci, side: side}
	l.x, l.y = a.lungPoint(r, side, 0.25, 0.88, 0.2, 0.8, 0.1)
	spread := uniform(r, 0.05, 0.1)
	n := 10 + r.IntN(15)
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for range n {
		b := blob{
			x:   l.x + normal(r, 0, spread),
			y:   l.y + normal(r, 0, spread),
			r:   sc.longW / uniform(r, 150, 190),
			amp: scale * uniform(r, 0.35, 0.5),
		}
		l.blobs = append(l.blobs, b)
		l.evidence += b.amp * math.Pi * b.r * b.r * 0.1
		x0, y0 = math.Min(x0, b.x-2*b.r), math.Min(y0, b.y-2*b.r)
		x1, y1 = math.Max(x1, b.x+2*b.r), math.Max(y1, b.y+2*b.r)
		l.dens = math.Max(l.dens, b.amp)
	}
	l.x, l.y = (x0+x1)/2, (y0+y1)/2
	l.boxW, l.boxH = x1-x0, y1-y0
	l.rx, l.ry = l.boxW/2, l.boxH/2
	return l
}

// bounds is the lesion's world bounding box including its softened border.
func (l *lesion) bounds() (x0, y0, x1, y1 float64) {
	switch l.kind {
	case KindPatchy, KindFoci:
		x0, y0, x1, y1 = math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
		for _, b := range l.blobs {
			rr := b.r * 2
			x0, y0 = math.Min(x0, b.x-rr), math.Min(y0, b.y-rr)
			x1, y1 = math.Max(x1, b.x+rr), math.Max(y1, b.y+rr)
		}
		return
	}
	rr := math.Max(l.rx, l.ry) * math.Sqrt(1+l.soft+l.warp)
	return l.x - rr, l.y - rr, l.x + rr, l.y + rr
}

// draw adds the lesion to the grid: opacities to dst (not yet masked by the
// lungs or capped by their air), zero-mean textures to signed.
func (l *lesion) draw(g *grid, dst, signed []float32, tex *valueNoise) {
	x0, y0, x1, y1 := l.bounds()
	i0, j0, i1, j1 := g.span(x0, y0, x1, y1)
	if i0 > i1 || j0 > j1 {
		return
	}
	switch l.kind {
	case KindPatchy:
		for _, b := range l.blobs {
			drawBlob(g, dst, b, l.warp, 0.5, tex)
		}
		return
	case KindFoci:
		for _, b := range l.blobs {
			drawRinged(g, signed, b)
		}
		return
	case KindReticulonodular:
		// Nodules fade out towards the border of the envelope.
		for _, b := range l.blobs {
			if e := l.envelope(b.x, b.y, tex); e > 0 {
				b.amp *= e
				drawRinged(g, signed, b)
			}
		}
		return
	}
	c, s := math.Cos(l.rot), math.Sin(l.rot)
	irx2, iry2 := 1/(l.rx*l.rx), 1/(l.ry*l.ry)
	for j := j0; j <= j1; j++ {
		y := g.y0 + float64(j)*g.gs
		row := dst[j*g.w:]
		for i := i0; i <= i1; i++ {
			x := g.x0 + float64(i)*g.gs
			dx, dy := x-l.x, y-l.y
			u, v := c*dx+s*dy, -s*dx+c*dy
			q := u*u*irx2 + v*v*iry2
			if q > 1+l.soft+l.warp {
				continue
			}
			q += l.warp * tex.fbm(x*6+17, y*6+3, 3)
			env := 1 - smoothstep(1-l.soft, 1+l.soft, q)
			if env <= 0 {
				continue
			}
			var val float64
			switch l.kind {
			case KindConsolidation:
				if l.fissure {
					env *= smoothstep(-0.006, 0.006, l.fc-(l.fnx*x+l.fny*y))
				}
				val = l.dens * env * (0.82 + 0.18*tex.fbm(x*14, y*14, 2))
			case KindGroundGlass:
				val = l.dens * env * (0.75 + 0.25*tex.fbm(x*8+2.2, y*8+6.1, 2))
			case KindInterstitial:
				n := 1 - math.Abs(tex.at(x/l.period+5.5, y/l.period+9.1))
				n2 := 1 - math.Abs(tex.at(x/l.period*0.53+1.3, y/l.period*0.53+7.7))
				ridge := math.Max(n*n*n*n*n*n, n2*n2*n2*n2*n2*n2)
				val = env * (l.haze + l.lineAmp*ridge)
			}
			row[i] += float32(val)
		}
	}
	for _, b := range l.bronch {
		drawSegment(g, dst, b)
	}
}

// envelope is the soft, irregular elliptical region of the lesion (1 inside,
// 0 outside).
func (l *lesion) envelope(x, y float64, tex *valueNoise) float64 {
	c, s := math.Cos(l.rot), math.Sin(l.rot)
	dx, dy := x-l.x, y-l.y
	u, v := c*dx+s*dy, -s*dx+c*dy
	q := u*u/(l.rx*l.rx) + v*v/(l.ry*l.ry)
	q += l.warp * tex.fbm(x*6+17, y*6+3, 3)
	return 1 - smoothstep(1-l.soft, 1+l.soft, q)
}

// drawRinged adds a nodule (core radius b.r) surrounded by a ring of
// reduced density out to 2*b.r whose depth is set so that the samples sum to
// zero: a local texture with no mean.
func drawRinged(g *grid, dst []float32, b blob) {
	ro := 2 * b.r
	i0, j0, i1, j1 := g.span(b.x-ro, b.y-ro, b.x+ro, b.y+ro)
	prof := func(x, y float64) (core, ring float64) {
		d := math.Hypot(x-b.x, y-b.y) / b.r
		if d < 1 {
			f := 1 - d*d
			return f * f, 0
		}
		if d < 2 {
			u := (d - 1.5) / 0.5
			f := 1 - u*u
			return 0, f * f
		}
		return 0, 0
	}
	var sc, sr float64
	for j := j0; j <= j1; j++ {
		y := g.y0 + float64(j)*g.gs
		for i := i0; i <= i1; i++ {
			c, r := prof(g.x0+float64(i)*g.gs, y)
			sc += c
			sr += r
		}
	}
	if sc == 0 {
		return
	}
	k := 0.0
	if sr > 0 {
		k = sc / sr
	}
	for j := j0; j <= j1; j++ {
		y := g.y0 + float64(j)*g.gs
		row := dst[j*g.w:]
		for i := i0; i <= i1; i++ {
			c, r := prof(g.x0+float64(i)*g.gs, y)
			if c != 0 || r != 0 {
				row[i] += float32(b.amp * (c - k*r))
			}
		}
	}
}

// drawBlob adds a rounded nodule; warp makes its border irregular and
// mottle breaks it into a fluffy, acinar texture (bronchopneumonia).
func drawBlob(g *grid, dst []float32, b blob, warp, mottle float64, tex *valueNoise) {
	rr := b.r * (1 + warp)
	i0, j0, i1, j1 := g.span(b.x-rr, b.y-rr, b.x+rr, b.y+rr)
	inv := 1 / (b.r * b.r)
	for j := j0; j <= j1; j++ {
		y := g.y0 + float64(j)*g.gs
		row := dst[j*g.w:]
		for i := i0; i <= i1; i++ {
			x := g.x0 + float64(i)*g.gs
			q := ((x-b.x)*(x-b.x) + (y-b.y)*(y-b.y)) * inv
			if warp > 0 {
				if q > (1+warp)*(1+warp) {
					continue
				}
				q += warp * tex.fbm(x/b.r*0.8+2.1, y/b.r*0.8+4.2, 2)
			}
			if q >= 1 {
				continue
			}
			f := 1 - q
			v := b.amp * f * f
			if mottle > 0 {
				v *= clamp(1-mottle*0.5+mottle*tex.fbm(x*12+7.7, y*12+1.3, 2), 0, 1.3)
			}
			row[i] += float32(v)
		}
	}
}

// record converts a lesion to its manifest form.
func (sc *scene) lesionRecord(l *lesion) Lesion {
	px, py := sc.toImage(l.x, l.y)
	side := "right"
	if l.side == 1 {
		side = "left"
	}
	return Lesion{
		Kind:    l.kind,
		Lung:    side,
		Zone:    l.zoneLabel,
		X:       round4(px / float64(sc.w)),
		Y:       round4(py / float64(sc.h)),
		W:       round4(l.boxW / sc.scale / float64(sc.w)),
		H:       round4(l.boxH / sc.scale / float64(sc.h)),
		Density: round4(l.dens),
	}
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }
