package synth

import (
	"image"
	"math"
)

// gridLong is the number of samples along the long side of the working
// grid. Anatomy, pathology, exposure and processing are computed on this grid
// (independent of the output size, so image statistics do not depend on it);
// the full-resolution pass only interpolates, adds quantum noise and draws
// the collimation and the marker.
const gridLong = 512

// grid is the working grid: axis-aligned in the world frame, covering the
// (possibly rotated) image with a margin.
type grid struct {
	w, h   int
	x0, y0 float64 // world position of sample (0, 0)
	gs     float64 // world units between samples
}

// span converts a world box to an inclusive index range clamped to the grid.
func (g *grid) span(x0, y0, x1, y1 float64) (i0, j0, i1, j1 int) {
	i0 = max(0, int(math.Floor((x0-g.x0)/g.gs)))
	j0 = max(0, int(math.Floor((y0-g.y0)/g.gs)))
	i1 = min(g.w-1, int(math.Ceil((x1-g.x0)/g.gs)))
	j1 = min(g.h-1, int(math.Ceil((y1-g.y0)/g.gs)))
	return
}

// renderer owns the scratch buffers of one worker; it is not safe for
// concurrent use.
type renderer struct {
	g        grid
	att      []float32 // attenuation, later gray level
	mask     []float32 // lung fields, 0..1
	air      []float32 // attenuation removed by the air in the lungs
	ves      []float32 // vessels
	les      []float32 // lesions (opacities)
	sles     []float32 // zero-mean lesion textures
	tmp      []float32
	xs       []float64
	ttop     []float64 // apical border (world Y) per column
	domeY    []float64 // diaphragm (world Y) per column
	noiseRow []int32
	lut      []float32
	blur     []int32
	line     []int32
	mid      []float32 // image-aligned intermediate grid
	midI     []int32
	ucol     []int32
	tcol     []int32
	rowA     []int32
	rowB     []int32
	colRow   []int32
}

func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	b = b[:n]
	clear(b)
	return b
}

// render draws the scene into a new or reused gray image of the scene's
// size. Lesions are left out when withLesions is false (for tests: the rest
// of the image is identical).
func (rd *renderer) render(sc *scene, withLesions bool, dst *image.Gray) *image.Gray {
	if dst == nil || cap(dst.Pix) < sc.w*sc.h {
		dst = image.NewGray(image.Rect(0, 0, sc.w, sc.h))
	} else {
		dst.Pix = dst.Pix[:sc.w*sc.h]
		dst.Stride = sc.w
		dst.Rect = image.Rect(0, 0, sc.w, sc.h)
	}
	rd.setup(sc)
	tex := newValueNoiseSeeded(sc.texSeed)
	rd.base(sc, tex)
	rd.bones(sc)
	a := &sc.anat
	// Air columns overlap at the carina: combine them with max, then subtract.
	clear(rd.tmp)
	for _, s := range a.airSegs {
		s.amp = -s.amp
		drawSegmentMax(&rd.g, rd.tmp, s)
	}
	for i, v := range rd.tmp {
		rd.att[i] -= v
	}
	for _, s := range a.segs {
		// Max, not sum: branch points do not double up into beads.
		drawSegmentMax(&rd.g, rd.ves, s)
	}
	for _, sgn := range []float64{-1, 1} {
		// Humeral head: a round bone in the shoulder.
		hx := sgn * (a.bodyHalfWidth(a.humerusY) - 1.3*a.humerusR)
		drawSegment(&rd.g, rd.att, segment{x0: hx, y0: a.humerusY, x1: hx + sgn*0.03, y1: a.humerusY + 0.05,
			w: a.humerusR, amp: a.humerusD, flat: true})
	}
	for _, b := range a.gas {
		drawBlob(&rd.g, rd.att, b, 0.6, 0.8, tex)
	}
	if a.nipple {
		for _, sgn := range []float64{-1, 1} {
			drawBlob(&rd.g, rd.att, blob{x: sgn * a.nippleX, y: a.nippleY, r: a.nippleR, amp: a.nippleD}, 0, 0, nil)
		}
	}
	if withLesions {
		for i := range sc.lesions {
			sc.lesions[i].draw(&rd.g, rd.les, rd.sles, tex)
		}
	}
	for i, m := range rd.mask {
		if m > 0 {
			att := (rd.ves[i] + rd.sles[i]) * m
			if l := rd.les[i]; l > 0 {
				// Opacities fill air spaces: the added density saturates
				// at the air that was there (no rim at the lung border).
				air := rd.air[i]
				att += l / float32(math.Sqrt(float64(1+(l/air)*(l/air))))
			}
			rd.att[i] += att
		}
	}
	rd.tone(sc)
	rd.sharpen(sc)
	rd.fullRes(sc, dst)
	if sc.marker.on {
		drawMarker(dst, sc.marker, sc.noiseSeed)
	}
	return dst
}

func newValueNoiseSeeded(seed uint64) *valueNoise {
	return newValueNoise(newRand(seed, 0))
}

// setup sizes the working grid for the scene and clears the buffers.
func (rd *renderer) setup(sc *scene) {
	long := max(sc.w, sc.h)
	f := math.Max(1, float64(long)/gridLong)
	gs := sc.scale * f
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	for _, c := range [][2]float64{{0, 0}, {float64(sc.w), 0}, {0, float64(sc.h)}, {float64(sc.w), float64(sc.h)}} {
		x, y := sc.toWorld(c[0], c[1])
		minX, minY = math.Min(minX, x), math.Min(minY, y)
		maxX, maxY = math.Max(maxX, x), math.Max(maxY, y)
	}
	g := grid{gs: gs, x0: minX - 2*gs, y0: minY - 2*gs}
	g.w = int(math.Ceil((maxX-minX)/gs)) + 5
	g.h = int(math.Ceil((maxY-minY)/gs)) + 5
	rd.g = g
	n := g.w * g.h
	rd.att = grow(rd.att, n)
	rd.mask = grow(rd.mask, n)
	rd.air = grow(rd.air, n)
	rd.ves = grow(rd.ves, n)
	rd.les = grow(rd.les, n)
	rd.sles = grow(rd.sles, n)
	rd.tmp = grow(rd.tmp, n)
	rd.xs = grow(rd.xs, g.w)
	rd.ttop = grow(rd.ttop, g.w)
	rd.domeY = grow(rd.domeY, g.w)
	a := &sc.anat
	for i := range g.w {
		x := g.x0 + float64(i)*gs
		rd.xs[i] = x
		s, side := math.Abs(x), 0
		if x >= 0 {
			side = 1
		}
		rd.ttop[i] = a.apexTop(s) * a.h
		rd.domeY[i] = a.dome(side, s) * a.h
	}
}

// base computes soft tissue, lungs, mediastinum, heart, spine, diaphragm,
// abdomen and the optional soft-tissue shadows.
func (rd *renderer) base(sc *scene, tex *valueNoise) {
	a := &sc.anat
	g := &rd.g
	// Gastric bubble under the image-right hemidiaphragm.
	bubX := a.bubbleX
	bubY := a.dome(1, bubX)*a.h + a.bubbleRY*1.2
	for j := range g.h {
		y := g.y0 + float64(j)*g.gs
		t := y / a.h
		bw := a.bodyHalfWidth(y)
		invBw := 1 / bw
		ml, mr := a.medial(y)
		lat := a.lateral(t)
		hc := a.heartChord(y)
		heartRow := a.heartD * smoothstep(a.hy-a.hry, a.hy-0.2*a.hry, y)
		lungRow := t > -0.2 && t < 1.3
		// Spine: vertebral bodies with end plates, disc spaces and pedicles.
		ph := (y - a.v0) / a.vP
		ph -= math.Floor(ph)
		disc := smoothstep(0.8, 0.88, ph) * (1 - smoothstep(0.94, 1.0, ph))
		endplate := math.Exp(-sq((ph-0.78)/0.035)) + math.Exp(-sq(ph/0.035)) + math.Exp(-sq((ph-1)/0.035))
		spRow := a.spD * (1 - 0.25*disc + 0.06*endplate)
		pedRow := 1 - sq((ph-0.32)/0.16)
		armC := bw + a.armGap + a.armW
		row := j * g.w
		for i := range g.w {
			x := rd.xs[i]
			q := x * invBw
			tt := 0.0
			if q*q < 1 {
				tt = math.Sqrt(1 - q*q)
			}
			att := a.softD * tt
			if a.arms && y > a.neckY+0.3 {
				if dq := (math.Abs(x) - armC) / a.armW; dq*dq < 1 {
					att += a.armD * math.Sqrt(1-dq*dq)
				}
			}
			mask, air := 0.0, 0.0
			if lungRow && tt > 0 {
				s, m := x, mr
				if x < 0 {
					s, m = -x, ml
				}
				d := math.Min(s-m, lat-s)
				d = math.Min(d, (y-rd.ttop[i])*0.8)
				d = math.Min(d, rd.domeY[i]-y)
				if d > -0.02 {
					// The ray crosses the chest wall (wallT) and the lung,
					// whose depth follows the thorax; air replaces tissue.
					thick := smoothstep(-0.012, 0.09, d) * (0.75 + 0.25*smoothstep(0, 0.3, d))
					air = a.softD * math.Max(0, tt-a.wallT) * a.airFrac * thick * (0.9 + 0.1*clamp(t, 0, 1))
					att -= air
					mask = smoothstep(-0.01, 0.015, d)
					if mask > 0 {
						att += mask * a.parAmp * tex.fbm(x/a.parScale, y/a.parScale, 2)
					}
				}
			}
			if hc > 0 && y < rd.domeY[i]+0.03 {
				// The heart joins the mediastinum above (no visible top
				// border) and sits on the diaphragm below.
				dh := hc - math.Abs(x-a.hx)
				att += heartRow * smoothstep(-0.01, 0.04, dh) * (1 - smoothstep(rd.domeY[i]-0.01, rd.domeY[i]+0.03, y))
			}
			if y > rd.domeY[i]-0.01 && tt > 0 {
				att += a.abdD * tt * smoothstep(rd.domeY[i]-0.005, rd.domeY[i]+0.06, y)
				if a.bubble {
					e := sq((x-bubX)/a.bubbleRX) + sq((y-bubY)/a.bubbleRY)
					if e < 1.4 {
						e += 0.3 * tex.at(x*12+3, y*12+5)
						att -= a.bubbleD * (1 - smoothstep(0.6, 1.2, e)) * smoothstep(rd.domeY[i]+0.01, rd.domeY[i]+0.05, y)
					}
				}
			}
			if dx := x - a.spX; dx > -a.spW*1.2 && dx < a.spW*1.2 {
				u := math.Abs(dx) / a.spW
				prof := 0.0
				if u < 1 {
					prof = math.Sqrt(1 - u*u)
				}
				cort := math.Max(0, 1-sq((u-0.9)/0.14))
				sp := spRow * (0.7*prof + 0.3*cort)
				if pedRow > 0 {
					if pq := sq((u-0.62)/0.2) + 1 - pedRow; pq < 1 {
						sp += a.pedD * (1 - pq)
					}
				}
				att += sp
			}
			if a.breast {
				s := math.Abs(x)
				r := math.Hypot((s-a.breastX)*0.8, y-a.breastY)
				if r < a.breastR+0.02 {
					edge := 1 - smoothstep(a.breastR-0.06, a.breastR+0.01, r)
					up := 1.0
					if y < a.breastY {
						up = 1 - smoothstep(0, a.breastR, a.breastY-y)
					}
					att += a.breastD * edge * up * tt
				}
			}
			if a.scapula && y < 0.6*a.h && y > -0.2 {
				s := math.Abs(x)
				xb := a.scapX - 0.12*clamp(y/(0.55*a.h), 0, 1)
				fade := 1 - smoothstep(0.35*a.h, 0.6*a.h, y)
				att += a.scapD * fade * (smoothstep(xb-0.004, xb+0.01, s) + 0.6*math.Exp(-sq((s-xb)/0.008)))
			}
			rd.att[row+i] = float32(att)
			rd.mask[row+i] = float32(mask)
			rd.air[row+i] = float32(air) + 1e-6
		}
	}
}

// bones draws ribs and clavicles column by column (each rib only touches the
// few rows around its centerline).
func (rd *renderer) bones(sc *scene) {
	a := &sc.anat
	g := &rd.g
	for i := range g.w {
		x := rd.xs[i]
		s, side := x, 1
		if x < 0 {
			s, side = -x, -1
		}
		for k := range a.ribs {
			rb := &a.ribs[k]
			if rb.side != side || s < rb.s0 || s > rb.s1 {
				continue
			}
			fade := smoothstep(rb.s0, rb.s0+rb.fade0, s) * (1 - smoothstep(rb.s1-rb.fade1, rb.s1, s))
			u := (s - rb.s0) / (rb.s1 - rb.s0)
			hw := lerp(rb.w0, rb.w1, u)
			rd.band(i, rb.center(s), hw, a.ribD*rb.d*fade, 0.35)
		}
		// Clavicles: from the sternal end near the midline, rising laterally
		// with a gentle S curve.
		if s > 0.05 && s < 1.08 {
			u := (s - 0.05) / 1.03
			yc := a.clavY - a.clavRise*math.Pow(u, 1.4) + 0.022*math.Sin(2*math.Pi*u)
			hw := a.clavW * (1.35 - 0.45*u)
			fade := smoothstep(0.05, 0.1, s) * (1 - smoothstep(1.0, 1.08, s))
			rd.band(i, yc, hw, a.clavD*fade, 1)
		}
	}
}

// band adds a bone cross-section (brighter cortex at both edges) centered at
// world y = yc with half width hw to column i. Outside the lung fields the
// amplitude drops to floor times amp.
func (rd *renderer) band(i int, yc, hw, amp, floor float64) {
	g := &rd.g
	j0 := max(0, int((yc-hw*1.2-g.y0)/g.gs))
	j1 := min(g.h-1, int((yc+hw*1.2-g.y0)/g.gs)+1)
	inv := 1 / hw
	for j := j0; j <= j1; j++ {
		y := g.y0 + float64(j)*g.gs
		d := math.Abs(y-yc) * inv
		if d >= 1.15 {
			continue
		}
		body := 1 - smoothstep(0.78, 1.08, d)
		c := (d - 0.86) / 0.17
		cort := 0.0
		if c*c < 1 {
			cort = (1 - c*c) * (1 - c*c)
		}
		// Bone shows best against the air of the lungs; over the
		// mediastinum, heart and abdomen it is largely hidden.
		k := j*g.w + i
		vis := floor + (1-floor)*float64(rd.mask[k])
		rd.att[k] += float32(amp * vis * (0.6*body + 0.45*cort))
	}
}

// drawSegment adds a capsule with a parabolic (or flat-topped) profile.
// Segments thinner than the grid are widened with their amplitude reduced,
// keeping the integrated density.
func drawSegment(g *grid, dst []float32, s segment) { paintSegment(g, dst, s, false) }

// drawSegmentMax is drawSegment combining with max instead of a sum.
func drawSegmentMax(g *grid, dst []float32, s segment) { paintSegment(g, dst, s, true) }

func paintSegment(g *grid, dst []float32, s segment, useMax bool) {
	w, amp := s.w, s.amp
	if minW := 0.9 * g.gs; w < minW {
		amp *= w / minW
		w = minW
	}
	i0, j0, i1, j1 := g.span(math.Min(s.x0, s.x1)-w, math.Min(s.y0, s.y1)-w, math.Max(s.x0, s.x1)+w, math.Max(s.y0, s.y1)+w)
	dx, dy := s.x1-s.x0, s.y1-s.y0
	l2 := dx*dx + dy*dy
	inv := 0.0
	if l2 > 0 {
		inv = 1 / l2
	}
	w2 := 1 / (w * w)
	for j := j0; j <= j1; j++ {
		y := g.y0 + float64(j)*g.gs
		row := dst[j*g.w:]
		for i := i0; i <= i1; i++ {
			x := g.x0 + float64(i)*g.gs
			t := clamp(((x-s.x0)*dx+(y-s.y0)*dy)*inv, 0, 1)
			ex, ey := x-s.x0-t*dx, y-s.y0-t*dy
			q := (ex*ex + ey*ey) * w2
			if q >= 1 {
				continue
			}
			if s.flat {
				q = q * q * q
			}
			v := float32(amp * (1 - q))
			switch {
			case !useMax:
				row[i] += v
			case v > row[i]:
				row[i] = v
			}
		}
	}
}

// Attenuation range of the tone lookup table.
const (
	lutMin  = -0.5
	lutMax  = 3.5
	lutSize = 4096
	aRef    = 1.6 // attenuation that maps to v = 1 before contrast
)

// tone converts attenuation to gray levels (0..255, float) in place.
func (rd *renderer) tone(sc *scene) {
	t := sc.tone
	rd.lut = grow(rd.lut, lutSize+1)
	ref := 1 - math.Exp(-t.k*aRef)
	for i := range rd.lut {
		a := math.Max(0, lutMin+(lutMax-lutMin)*float64(i)/lutSize)
		v := (1 - math.Exp(-t.k*a)) / ref
		gv := clamp(t.b+t.c*v, 0, 1)
		rd.lut[i] = float32(255 * math.Pow(gv, t.gamma))
	}
	scale := float32(lutSize / (lutMax - lutMin))
	for i, a := range rd.att {
		f := (a - lutMin) * scale
		if f <= 0 {
			rd.att[i] = rd.lut[0]
			continue
		}
		if f >= lutSize {
			rd.att[i] = rd.lut[lutSize]
			continue
		}
		k := int(f)
		fr := f - float32(k)
		rd.att[i] = rd.lut[k] + (rd.lut[k+1]-rd.lut[k])*fr
	}
}

// sharpen applies the unsharp mask of digital radiography processing and a
// slow intensity ramp (heel effect). The blur runs in integers so that a
// local change (a lesion) cannot perturb far-away pixels through rounding.
func (rd *renderer) sharpen(sc *scene) {
	g := &rd.g
	r := max(1, int(sc.sharpR/g.gs))
	rd.blur = grow(rd.blur, len(rd.att))
	for i, v := range rd.att {
		rd.blur[i] = int32(v * 64)
	}
	line := grow(rd.line, max(g.w, g.h))
	rd.line = line
	for range 2 {
		boxBlur(rd.blur, g.w, g.h, 1, g.w, r, line)
		boxBlur(rd.blur, g.h, g.w, g.w, 1, r, line)
	}
	beta := float32(sc.sharpen)
	gx, gy := sc.gradX, sc.gradY
	for j := range g.h {
		row := j * g.w
		fy := float64(j)/float64(g.h) - 0.5
		for i := range g.w {
			ramp := float32(1 + gx*(float64(i)/float64(g.w)-0.5) + gy*fy)
			v := rd.att[row+i]
			rd.att[row+i] = (v + beta*(v-float32(rd.blur[row+i])/64)) * ramp
		}
	}
}

// boxBlur blurs n lines of length m in place (element step, line stride) with
// a running sum of radius r, clamping at the ends.
func boxBlur(buf []int32, m, n, step, stride, r int, line []int32) {
	line = line[:m]
	inv := int64(1<<32) / int64(2*r+1) // divide by multiplying: exact enough, and integer
	for l := range n {
		off := l * stride
		for k := range m {
			line[k] = buf[off+k*step]
		}
		var sum int32
		for k := -r; k <= r; k++ {
			sum += line[min(max(k, 0), m-1)]
		}
		for k := range m {
			buf[off+k*step] = int32(int64(sum) * inv >> 32)
			sum += line[min(k+r+1, m-1)] - line[max(k-r, 0)]
		}
	}
}

// fullRes produces the output pixels: the gray grid is resampled to an
// intermediate image-aligned grid of the same resolution (this applies the
// rotation), then upsampled separably (rows once per intermediate row, then
// a vertical blend per output row), with quantum noise (correlated over 2x2
// pixels) and the collimated margins.
func (rd *renderer) fullRes(sc *scene, dst *image.Gray) {
	g := &rd.g
	w, h := sc.w, sc.h
	f := g.gs / sc.scale // output pixels per intermediate sample
	iw := int(math.Ceil(float64(w)/f)) + 2
	ih := int(math.Ceil(float64(h)/f)) + 2

	// Intermediate sample (u, v) lies at output position (u*f, v*f).
	rd.mid = grow(rd.mid, iw*ih)
	c, s := math.Cos(sc.rot), math.Sin(sc.rot)
	ax, ay := c, s // grid samples per intermediate sample (same spacing)
	bx, by := -s, c
	ox := (sc.cx-g.x0)/g.gs + (c*(-float64(w)/2)-s*(-float64(h)/2))*sc.scale/g.gs
	oy := (sc.cy-g.y0)/g.gs + (s*(-float64(w)/2)+c*(-float64(h)/2))*sc.scale/g.gs
	maxX, maxY := float64(g.w-2), float64(g.h-2)
	att := rd.att
	for v := range ih {
		gx := ox + bx*float64(v)
		gy := oy + by*float64(v)
		row := rd.mid[v*iw : v*iw+iw]
		for u := range iw {
			fx := clamp(gx+ax*float64(u), 0, maxX)
			fy := clamp(gy+ay*float64(u), 0, maxY)
			ix, iy := int(fx), int(fy)
			tx, ty := float32(fx-float64(ix)), float32(fy-float64(iy))
			i0 := iy*g.w + ix
			v0 := att[i0] + (att[i0+1]-att[i0])*tx
			v1 := att[i0+g.w] + (att[i0+g.w+1]-att[i0+g.w])*tx
			row[u] = v0 + (v1-v0)*ty
		}
	}

	// From here on fixed point: gray levels times 256 in int32.
	rd.midI = grow(rd.midI, iw*ih)
	for i, v := range rd.mid {
		rd.midI[i] = int32(v * 256)
	}
	// Horizontal interpolation positions, shared by all rows.
	rd.ucol = grow(rd.ucol, w)
	rd.tcol = grow(rd.tcol, w)
	for px := range w {
		uu := (float64(px) + 0.5) / f
		u0 := min(int(uu), iw-2)
		rd.ucol[px] = int32(u0)
		rd.tcol[px] = int32((uu - float64(u0)) * 256)
	}
	rd.rowA = grow(rd.rowA, w)
	rd.rowB = grow(rd.rowB, w)
	upRow := func(dstRow []int32, v int) {
		src := rd.midI[v*iw : v*iw+iw]
		tcol := rd.tcol[:len(dstRow)]
		for px, u0 := range rd.ucol[:len(dstRow)] {
			a := src[u0]
			dstRow[px] = a + (src[u0+1]-a)*tcol[px]>>8
		}
	}

	// Quantum noise: each white sample is the sum of two random bytes (sd
	// 104.2); the 2x2 sum of four has sd 208.5. k scales it to sigma gray
	// levels in the 1/256 fixed point.
	k := int32(sc.sigma / 208.5 * 256)
	pn := pixelNoise{s: sc.noiseSeed}
	rd.noiseRow = grow(rd.noiseRow, w+1)
	prev := rd.noiseRow[:w]
	col := sc.collim
	colV := int32(col.value * 256)
	if col.on {
		rd.colRow = grow(rd.colRow, w)
		for i := range rd.colRow {
			rd.colRow[i] = colV
		}
	}
	// collimate overwrites the collimated margins of an upsampled row.
	collimate := func(row []int32) {
		if col.on {
			copy(row[:col.l], rd.colRow)
			copy(row[w-col.r:], rd.colRow)
		}
	}
	cached := -2
	rowA, rowB := rd.rowA, rd.rowB
	for py := range h {
		pix := dst.Pix[py*dst.Stride : py*dst.Stride+w]
		vv := (float64(py) + 0.5) / f
		v0 := min(int(vv), ih-2)
		ty := int32((vv - float64(v0)) * 256)
		switch v0 {
		case cached:
		case cached + 1:
			rowA, rowB = rowB, rowA
			upRow(rowB, v0+1)
			collimate(rowB)
		default:
			upRow(rowA, v0)
			upRow(rowB, v0+1)
			collimate(rowA)
			collimate(rowB)
		}
		cached = v0
		ra, rb := rowA[:w], rowB[:w]
		if col.on && (py < col.t || py >= h-col.b) {
			ra, rb = rd.colRow[:w], rd.colRow[:w]
		}
		var left int32
		var bits uint64
		for px := range pix {
			if px&3 == 0 {
				bits = pn.step()
			}
			wn := int32(bits&0xff) + int32(bits>>8&0xff) - 255
			bits >>= 16
			cur := wn + left
			left = wn
			n := cur + prev[px]
			prev[px] = cur
			a := ra[px]
			v := a + (rb[px]-a)*ty>>8 + n*k>>8
			pix[px] = uint8(min(max((v+128)>>8, 0), 255))
		}
	}
}

// Five-by-seven glyphs of the side marker letters.
var glyphs = map[byte][7]string{
	'L': {"10000", "10000", "10000", "10000", "10000", "10000", "11111"},
	'R': {"11110", "10001", "10001", "11110", "10100", "10010", "10001"},
}

// drawMarker burns a lead side marker into the image.
func drawMarker(dst *image.Gray, m marker, seed uint64) {
	pn := pixelNoise{s: seed ^ 0xa5a5a5a5a5a5a5a5 | 1}
	fill := func(x0, y0, x1, y1 int) {
		for y := max(y0, 0); y < min(y1, dst.Rect.Dy()); y++ {
			row := dst.Pix[y*dst.Stride:]
			for x := max(x0, 0); x < min(x1, dst.Rect.Dx()); x++ {
				v := m.value + float64(pn.next())*0.02
				row[x] = uint8(clamp(v, 0, 255))
			}
		}
	}
	ox, oy := m.x, m.y
	if m.box {
		t := max(1, m.cell/2)
		w, h := 7*m.cell, 9*m.cell
		fill(ox, oy, ox+w, oy+t)
		fill(ox, oy+h-t, ox+w, oy+h)
		fill(ox, oy, ox+t, oy+h)
		fill(ox+w-t, oy, ox+w, oy+h)
		ox += m.cell
		oy += m.cell
	}
	for r, line := range glyphs[m.letter] {
		for c := range 5 {
			if line[c] == '1' {
				fill(ox+c*m.cell, oy+r*m.cell, ox+(c+1)*m.cell, oy+(r+1)*m.cell)
			}
		}
	}
}
