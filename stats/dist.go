package stats

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidInput is wrapped by every error about an argument: a negative
// count, successes above trials, a probability or level out of range.
var ErrInvalidInput = errors.New("invalid input")

// ErrNoEffect is returned by SampleSizeTwoProportions when the two
// proportions are equal: no finite sample detects a zero difference.
var ErrNoEffect = errors.New("no effect: the proportions are equal")

// MaxCount is the largest count any function accepts. It keeps sums and
// products of counts exact in float64 and bounds the work of FisherExact.
const MaxCount = 1 << 32

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
}

// checkCount validates one count argument by name.
func checkCount(name string, v int) error {
	if v < 0 {
		return invalid("%s %d: must not be negative", name, v)
	}
	if v > MaxCount {
		return invalid("%s %d: must be at most %d", name, v, MaxCount)
	}
	return nil
}

// checkTrials validates successes x out of n trials.
func checkTrials(xName string, x int, nName string, n int) error {
	if err := checkCount(xName, x); err != nil {
		return err
	}
	if err := checkCount(nName, n); err != nil {
		return err
	}
	if x > n {
		return invalid("%s %d: must not exceed %s %d", xName, x, nName, n)
	}
	return nil
}

// checkAlpha validates a significance level in (0, 1).
func checkAlpha(alpha float64) error {
	if !(alpha > 0 && alpha < 1) {
		return invalid("alpha %v: must be in (0, 1)", alpha)
	}
	return nil
}

// NormalCDF is the standard normal cumulative distribution function P(Z <= x).
// It keeps full relative precision in the lower tail.
func NormalCDF(x float64) float64 {
	return 0.5 * math.Erfc(-x/math.Sqrt2)
}

// NormalSF is the standard normal survival function P(Z > x), precise in the
// upper tail (NormalSF(10) is about 7.6e-24, not 0).
func NormalSF(x float64) float64 {
	return 0.5 * math.Erfc(x/math.Sqrt2)
}

// NormalPDF is the standard normal density.
func NormalPDF(x float64) float64 {
	return math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi)
}

// NormalQuantile is the inverse of NormalCDF: the x with P(Z <= x) = p. It
// returns -Inf for p = 0, +Inf for p = 1 and NaN for p outside [0, 1] (like
// the functions of package math). Relative error is about 1e-15 down to
// p = 1e-300: a rational starting point (Abramowitz and Stegun 26.2.23) is
// refined by Halley steps on NormalCDF, working in the tail that holds p.
func NormalQuantile(p float64) float64 {
	switch {
	case math.IsNaN(p) || p < 0 || p > 1:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	case p > 0.5:
		return -lowerQuantile(1 - p)
	}
	return lowerQuantile(p)
}

// lowerQuantile returns the normal quantile for 0 < q <= 0.5.
func lowerQuantile(q float64) float64 {
	if q == 0.5 {
		return 0
	}
	t := math.Sqrt(-2 * math.Log(q))
	x := -(t - (2.515517+0.802853*t+0.010328*t*t)/(1+1.432788*t+0.189269*t*t+0.001308*t*t*t))
	for i := 0; i < 4; i++ {
		pdf := NormalPDF(x)
		if pdf == 0 {
			break
		}
		e := (NormalCDF(x) - q) / pdf
		step := e / (1 + x*e/2)
		x -= step
		// Halley's method converges cubically: after a step of 1e-6 the
		// error is far below double precision.
		if math.Abs(step) <= 1e-6*math.Max(1, math.Abs(x)) {
			break
		}
	}
	return x
}

// ChiSquare1SF is the survival function of the chi-square distribution with
// one degree of freedom, P(X > x) = erfc(sqrt(x/2)). It returns 1 for x <= 0.
func ChiSquare1SF(x float64) float64 {
	if !(x > 0) {
		return 1
	}
	return math.Erfc(math.Sqrt(x / 2))
}

func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// LogChoose returns log(n choose k) via math.Lgamma, or -Inf when k is
// outside [0, n].
func LogChoose(n, k int) float64 {
	if k < 0 || k > n || n < 0 {
		return math.Inf(-1)
	}
	if k == 0 || k == n {
		return 0
	}
	return lgamma(float64(n)+1) - lgamma(float64(k)+1) - lgamma(float64(n-k)+1)
}

// LogBinomialPMF returns log P(X = k) for X ~ Binomial(n, p); -Inf outside
// the support or when p is not in [0, 1].
func LogBinomialPMF(k, n int, p float64) float64 {
	if k < 0 || k > n || n < 0 || !(p >= 0 && p <= 1) {
		return math.Inf(-1)
	}
	switch {
	case p == 0:
		if k == 0 {
			return 0
		}
		return math.Inf(-1)
	case p == 1:
		if k == n {
			return 0
		}
		return math.Inf(-1)
	}
	return LogChoose(n, k) + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p)
}

// BinomialPMF returns P(X = k) for X ~ Binomial(n, p).
func BinomialPMF(k, n int, p float64) float64 {
	return math.Exp(LogBinomialPMF(k, n, p))
}

// BinomialCDF returns P(X <= k) for X ~ Binomial(n, p), summing the
// probability mass function over the shorter tail.
func BinomialCDF(k, n int, p float64) float64 {
	switch {
	case n < 0 || !(p >= 0 && p <= 1):
		return math.NaN()
	case k < 0:
		return 0
	case k >= n:
		return 1
	}
	mean := float64(n) * p
	if float64(k) < mean {
		s := 0.0
		for i := k; i >= 0; i-- {
			t := BinomialPMF(i, n, p)
			s += t
			if t < 1e-17*s {
				break
			}
		}
		return math.Min(s, 1)
	}
	s := 0.0
	for i := k + 1; i <= n; i++ {
		t := BinomialPMF(i, n, p)
		s += t
		if t < 1e-17*s && float64(i) > mean {
			break
		}
	}
	return math.Max(1-s, 0)
}

// LogHypergeometricPMF returns log P(X = k) where X counts the successes in
// draws items drawn without replacement from total items of which successes
// are successes (scipy.stats.hypergeom.logpmf(k, total, successes, draws)).
// It returns -Inf outside the support or for inconsistent arguments.
func LogHypergeometricPMF(k, total, successes, draws int) float64 {
	if total < 0 || successes < 0 || draws < 0 || successes > total || draws > total {
		return math.Inf(-1)
	}
	if k < 0 || k > successes || k > draws || draws-k > total-successes {
		return math.Inf(-1)
	}
	return LogChoose(successes, k) + LogChoose(total-successes, draws-k) - LogChoose(total, draws)
}

// HypergeometricPMF returns P(X = k); see LogHypergeometricPMF.
func HypergeometricPMF(k, total, successes, draws int) float64 {
	return math.Exp(LogHypergeometricPMF(k, total, successes, draws))
}
