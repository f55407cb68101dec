package driftstat

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/healthcare-ai/platform/proto"
)

// PSIEpsilon replaces the share of a bin that is empty (share below
// PSIEpsilon) in either distribution before PSI takes its logarithm, so that
// an empty bin gives a large but finite term instead of an infinite one. With
// 1e-4 a bin holding 10% of one distribution and nothing of the other adds
// (0.1-0.0001)*ln(0.1/0.0001) = 0.69 to the index: an alert on its own.
const PSIEpsilon = 1e-4

// PSI is the population stability index of actual against expected,
// sum over bins of (a_i - e_i) * ln(a_i / e_i), where a_i and e_i are the
// shares of bin i (each argument is normalised to sum 1, so counts or
// fractions may be given). Shares below PSIEpsilon are replaced by
// PSIEpsilon. PSI is 0 for equal distributions and symmetric in its
// arguments.
func PSI(expected, actual []float64) (float64, error) {
	if len(expected) != len(actual) || len(expected) == 0 {
		return 0, fmt.Errorf("psi: %d expected and %d actual bins: want the same positive number", len(expected), len(actual))
	}
	se, sa := 0.0, 0.0
	for i := range expected {
		if expected[i] < 0 || actual[i] < 0 || math.IsNaN(expected[i]) || math.IsNaN(actual[i]) ||
			math.IsInf(expected[i], 0) || math.IsInf(actual[i], 0) {
			return 0, fmt.Errorf("psi: bin %d: %v and %v: want finite non-negative values", i, expected[i], actual[i])
		}
		se += expected[i]
		sa += actual[i]
	}
	if se == 0 || sa == 0 {
		return 0, errors.New("psi: a distribution is empty")
	}
	psi := 0.0
	for i := range expected {
		e, a := max(expected[i]/se, PSIEpsilon), max(actual[i]/sa, PSIEpsilon)
		psi += (a - e) * math.Log(a/e)
	}
	return psi, nil
}

// KS is the outcome of a two-sample Kolmogorov-Smirnov test.
type KS struct {
	D      float64 // sup |F_a(x) - F_b(x)|
	PValue float64 // asymptotic, see KolmogorovSF
	N, M   int     // sample sizes
}

// KSTwoSample returns the two-sample Kolmogorov-Smirnov statistic of a and b
// (the largest distance between their empirical distribution functions) and
// its asymptotic two-sided p-value Q(sqrt(nm/(n+m)) * D), Q being the
// Kolmogorov distribution's survival function (KolmogorovSF). D equals
// scipy.stats.ks_2samp's statistic; the p-value equals
// scipy.special.kolmogorov(sqrt(n*m/(n+m))*D), the limiting distribution.
// (ks_2samp(method="asymp") in SciPy 1.10 uses instead the one-sample
// finite-n distribution kstwo with n = round(nm/(n+m)), slightly smaller for
// small samples; the two agree as the samples grow.) a and b are not
// modified.
func KSTwoSample(a, b []float64) (KS, error) {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return KS{}, fmt.Errorf("ks: samples of %d and %d values: both must be non-empty", n, m)
	}
	x, y := slices.Clone(a), slices.Clone(b)
	for _, v := range x {
		if math.IsNaN(v) {
			return KS{}, errors.New("ks: NaN in the first sample")
		}
	}
	for _, v := range y {
		if math.IsNaN(v) {
			return KS{}, errors.New("ks: NaN in the second sample")
		}
	}
	slices.Sort(x)
	slices.Sort(y)
	d := ksSorted(x, y)
	en := float64(n) * float64(m) / float64(n+m)
	return KS{D: d, PValue: KolmogorovSF(math.Sqrt(en) * d), N: n, M: m}, nil
}

// ksSorted is D for two sorted samples.
func ksSorted(x, y []float64) float64 {
	n, m := float64(len(x)), float64(len(y))
	i, j := 0, 0
	d := 0.0
	for i < len(x) && j < len(y) {
		v := min(x[i], y[j])
		for i < len(x) && x[i] == v {
			i++
		}
		for j < len(y) && y[j] == v {
			j++
		}
		d = max(d, math.Abs(float64(i)/n-float64(j)/m))
	}
	return d
}

// KolmogorovSF is the survival function of the Kolmogorov distribution,
// P(K > x) = 2 * sum_{k>=1} (-1)^(k-1) exp(-2 k^2 x^2), the limit of
// sqrt(n)*D_n (SciPy: scipy.special.kolmogorov, scipy.stats.kstwobign.sf).
// For small x it uses the equivalent theta-function form
// 1 - sqrt(2 pi)/x * sum_{k>=1} exp(-(2k-1)^2 pi^2 / (8 x^2)), which
// converges fast there.
func KolmogorovSF(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return math.NaN()
	case x <= 0:
		return 1
	case x < 1:
		s := 0.0
		for k := 1; k <= 20; k++ {
			t := math.Exp(-float64((2*k-1)*(2*k-1)) * math.Pi * math.Pi / (8 * x * x))
			s += t
			if t < 1e-17*s {
				break
			}
		}
		return min(1, max(0, 1-math.Sqrt(2*math.Pi)/x*s))
	}
	s, sign := 0.0, 1.0
	for k := 1; k <= 100; k++ {
		t := math.Exp(-2 * float64(k*k) * x * x)
		s += sign * t
		sign = -sign
		if t < 1e-17 {
			break
		}
	}
	return min(1, max(0, 2*s))
}

// Range returns the histogram range [lo, hi] of proto.InputStats for a
// preprocessing with the given scale, mean and std: the tensor values of
// gray levels 0 and 255, computed in float32 exactly as the preprocessing
// computes tensor values ((v*Scale - Mean) / Std).
func Range(scale, mean, std float32) (lo, hi float64) {
	return float64((0*scale - mean) / std), float64((255*scale - mean) / std)
}

// Summarize computes the proto.InputStats of a tensor in one pass: count,
// mean, population standard deviation, minimum, maximum and the
// proto.InputStatsBins-bin histogram over [lo, hi] (values below lo count in
// the first bin, values from hi up in the last). It returns nil for an empty
// tensor, a range with lo >= hi, or a tensor with a non-finite value.
func Summarize(tensor []float32, lo, hi float64) *proto.InputStats {
	if len(tensor) == 0 || !(lo < hi) || math.IsInf(hi-lo, 0) {
		return nil
	}
	st := &proto.InputStats{N: len(tensor), Lo: lo, Hi: hi, Histogram: make([]int, proto.InputStatsBins),
		Min: math.Inf(1), Max: math.Inf(-1)}
	scale := proto.InputStatsBins / (hi - lo)
	var sum, sumsq float64
	for _, f := range tensor {
		v := float64(f)
		sum += v
		sumsq += v * v
		st.Min = min(st.Min, v)
		st.Max = max(st.Max, v)
		b := int((v - lo) * scale) // NaN and ±Inf convert to arbitrary ints: clamped, then rejected below
		st.Histogram[min(max(b, 0), proto.InputStatsBins-1)]++
	}
	n := float64(len(tensor))
	st.Mean = sum / n
	st.Std = math.Sqrt(max(0, sumsq/n-st.Mean*st.Mean))
	if math.IsNaN(sum) || math.IsInf(sum, 0) || math.IsNaN(sumsq) || math.IsInf(sumsq, 0) {
		return nil
	}
	return st
}
