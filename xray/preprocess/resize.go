package preprocess

import (
	"fmt"
	"image"
	"sync"
)

// scratch holds the per-call buffers, pooled to keep allocations low.
type scratch struct {
	small image.Gray // the 1/r image of the fast path
	sums  []uint32   // block sums of the plain path
	rows  []uint64   // horizontally resampled rows, h x Width
	acc   []uint64   // one output row
	ax    axis
	ay    axis
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// axis holds the area-resampling taps of one axis: output pixel o reads
// source pixels first[o] .. first[o]+off[o+1]-off[o]-1 with the integer
// weights w[off[o]:off[o+1]] (overlap lengths in units where a source pixel
// is dstN long and an output pixel srcN long, so the weights of an output sum
// to srcN).
type axis struct {
	first []int
	off   []int
	w     []uint64
}

func (a *axis) build(srcN, dstN int) {
	a.first = a.first[:0]
	a.off = append(a.off[:0], 0)
	a.w = a.w[:0]
	for o := range dstN {
		lo, hi := o*srcN, (o+1)*srcN // output interval
		i0 := lo / dstN
		a.first = append(a.first, i0)
		for i := i0; i*dstN < hi; i++ {
			ov := min(hi, (i+1)*dstN) - max(lo, i*dstN)
			a.w = append(a.w, uint64(ov))
		}
		a.off = append(a.off, len(a.w))
	}
}

// blockSums computes step c as integer sums of r x r blocks (edge-replicated)
// of the w x h 8-bit image pix with the given stride; the mean is sum/(r*r).
func blockSums(dst []uint32, pix []byte, stride, w, h, r int) []uint32 {
	rw, rh := (w+r-1)/r, (h+r-1)/r
	if cap(dst) < rw*rh {
		dst = make([]uint32, rw*rh)
	}
	dst = dst[:rw*rh]
	clear(dst)
	full := w / r // blocks without padding
	for by := range rh {
		out := dst[by*rw : (by+1)*rw]
		for k := range r {
			y := min(by*r+k, h-1)
			row := pix[y*stride : y*stride+w]
			for bx := range full {
				var s uint32
				for _, v := range row[bx*r : bx*r+r] {
					s += uint32(v)
				}
				out[bx] += s
			}
			if full < rw {
				var s uint32
				for j := range r {
					s += uint32(row[min(full*r+j, w-1)])
				}
				out[full] += s
			}
		}
	}
	return dst
}

// finish runs steps d and e: it resamples the rw x rh image src, whose values
// are div times the reduced image's values, to s.Width x s.Height and
// normalises into dst.
func finish[T uint8 | uint32](s Spec, sc *scratch, dst []float32, src []T, rw, rh int, div uint64) []float32 {
	W, H := s.Width, s.Height
	sc.ax.build(rw, W)
	sc.ay.build(rh, H)
	if cap(sc.rows) < rh*W {
		sc.rows = make([]uint64, rh*W)
	}
	rows := sc.rows[:rh*W]
	for y := range rh {
		in := src[y*rw : (y+1)*rw]
		out := rows[y*W : (y+1)*W]
		for o := range W {
			var a uint64
			taps := sc.ax.w[sc.ax.off[o]:sc.ax.off[o+1]]
			px := in[sc.ax.first[o]:]
			for k, wt := range taps {
				a += wt * uint64(px[k])
			}
			out[o] = a
		}
	}
	if cap(sc.acc) < W {
		sc.acc = make([]uint64, W)
	}
	acc := sc.acc[:W]
	n := s.Len()
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	// The exact mean is sum / (rw*rh*div): the x weights sum to rw, the
	// y weights to rh.
	denom := float64(uint64(rw) * uint64(rh) * div)
	for o := range H {
		clear(acc)
		y0 := sc.ay.first[o]
		for k, wt := range sc.ay.w[sc.ay.off[o]:sc.ay.off[o+1]] {
			row := rows[(y0+k)*W : (y0+k+1)*W]
			for x, v := range row {
				acc[x] += wt * v
			}
		}
		out := dst[o*W : (o+1)*W]
		for x, a := range acc {
			v := float32(float64(a) / denom)
			out[x] = (v*s.Scale - s.Mean) / s.Std
		}
	}
	return dst
}

// Tensor computes the tensor of an 8-bit gray image (steps b-e of the
// package doc) into dst, reusing dst when it has capacity s.Len(). This is
// the plain path, exact by construction.
func (s Spec) Tensor(dst []float32, g *image.Gray) ([]float32, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	b := g.Bounds()
	w, h := b.Dx(), b.Dy()
	if err := checkSize(w, h); err != nil {
		return nil, err
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	r := s.Reduction(w, h)
	pix := g.Pix[g.PixOffset(b.Min.X, b.Min.Y):]
	sc.sums = blockSums(sc.sums, pix, g.Stride, w, h, r)
	return finish(s, sc, dst, sc.sums, (w+r-1)/r, (h+r-1)/r, uint64(r*r)), nil
}

func checkSize(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: empty image (%dx%d)", ErrCorrupt, w, h)
	}
	if w > MaxDimension || h > MaxDimension || w*h > MaxPixels {
		return fmt.Errorf("%w: %dx%d (limits: %d per side, %d pixels)", ErrTooLarge, w, h, MaxDimension, MaxPixels)
	}
	return nil
}
