package synth

import (
	"math"
	"math/rand/v2"
)

// valueNoise is smooth lattice noise with a per-image permutation, so that
// textures differ between images but depend only on the image's seed.
type valueNoise struct {
	perm [512]uint8
	vals [256]float32
}

func newValueNoise(r *rand.Rand) *valueNoise {
	n := &valueNoise{}
	for i := range 256 {
		n.perm[i] = uint8(i)
		n.vals[i] = float32(r.Float64()*2 - 1)
	}
	for i := 255; i > 0; i-- {
		j := r.IntN(i + 1)
		n.perm[i], n.perm[j] = n.perm[j], n.perm[i]
	}
	copy(n.perm[256:], n.perm[:256])
	return n
}

// at returns smooth noise in [-1, 1] with unit lattice spacing.
func (n *valueNoise) at(x, y float64) float64 {
	fx, fy := math.Floor(x), math.Floor(y)
	ix, iy := int(fx)&255, int(fy)&255
	tx, ty := x-fx, y-fy
	tx = tx * tx * (3 - 2*tx)
	ty = ty * ty * (3 - 2*ty)
	p0 := int(n.perm[ix])
	p1 := int(n.perm[ix+1])
	v00 := float64(n.vals[n.perm[p0+iy]])
	v01 := float64(n.vals[n.perm[p0+iy+1]])
	v10 := float64(n.vals[n.perm[p1+iy]])
	v11 := float64(n.vals[n.perm[p1+iy+1]])
	a := v00 + (v10-v00)*tx
	b := v01 + (v11-v01)*tx
	return a + (b-a)*ty
}

// fbm sums octaves of noise (each half the size and amplitude of the
// previous); the result is roughly in [-1, 1].
func (n *valueNoise) fbm(x, y float64, octaves int) float64 {
	sum, amp, norm := 0.0, 1.0, 0.0
	for o := range octaves {
		sum += amp * n.at(x+float64(o)*37.1, y+float64(o)*11.7)
		norm += amp
		amp *= 0.5
		x, y = x*2.03, y*2.03
	}
	return sum / norm
}

// pixelNoise is a xorshift generator for per-pixel quantum noise: no
// interface calls, no allocation.
type pixelNoise struct{ s uint64 }

// step advances the generator and returns 64 random bits.
func (p *pixelNoise) step() uint64 {
	s := p.s
	s ^= s << 13
	s ^= s >> 7
	s ^= s << 17
	p.s = s
	return s
}

// next returns the sum of four uniform bytes minus 510: mean 0, standard
// deviation about 147.8, nearly Gaussian.
func (p *pixelNoise) next() int32 {
	s := p.s
	s ^= s << 13
	s ^= s >> 7
	s ^= s << 17
	p.s = s
	return int32(s&0xff) + int32(s>>8&0xff) + int32(s>>16&0xff) + int32(s>>24&0xff) - 510
}

func smoothstep(e0, e1, x float64) float64 {
	t := (x - e0) / (e1 - e0)
	if t <= 0 {
		return 0
	}
	if t >= 1 {
		return 1
	}
	return t * t * (3 - 2*t)
}

func clamp(x, lo, hi float64) float64 {
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}

func lerp(a, b, t float64) float64 { return a + (b-a)*t }

// uniform draws from [lo, hi).
func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// normal draws from a normal distribution clipped to mean ± 2.5 sd.
func normal(r *rand.Rand, mean, sd float64) float64 {
	return mean + sd*clamp(r.NormFloat64(), -2.5, 2.5)
}
