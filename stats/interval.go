package stats

import "math"

// Interval is a confidence interval [Lower, Upper].
type Interval struct {
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// Contains reports whether v lies in the closed interval.
func (i Interval) Contains(v float64) bool { return i.Lower <= v && v <= i.Upper }

// Wilson returns the Wilson score interval for a proportion x/n at
// confidence 1-alpha, as statsmodels proportion_confint(x, n, alpha,
// method="wilson"), clipped to [0, 1] against rounding. n = 0 gives [0, 1].
func Wilson(x, n int, alpha float64) (Interval, error) {
	if err := checkTrials("x", x, "n", n); err != nil {
		return Interval{}, err
	}
	if err := checkAlpha(alpha); err != nil {
		return Interval{}, err
	}
	return wilson(x, n, NormalQuantile(1-alpha/2)), nil
}

// wilson computes the interval for a valid x, n with critical value z.
func wilson(x, n int, z float64) Interval {
	if n == 0 {
		return Interval{0, 1}
	}
	nf := float64(n)
	p := float64(x) / nf
	z2 := z * z
	denom := 1 + z2/nf
	center := (p + z2/(2*nf)) / denom
	half := z * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / denom
	return Interval{Lower: math.Max(center-half, 0), Upper: math.Min(center+half, 1)}
}

// Newcombe returns Newcombe's hybrid score interval (his method 10) for the
// difference x1/n1 - x2/n2 at confidence 1-alpha, built from the two Wilson
// intervals, as statsmodels confint_proportions_2indep(x1, n1, x2, n2,
// method="newcomb", compare="diff", alpha=alpha). An empty arm has estimate 0
// and Wilson interval [0, 1] here, which keeps the result finite and wide.
func Newcombe(x1, n1, x2, n2 int, alpha float64) (Interval, error) {
	if err := checkTrials("x1", x1, "n1", n1); err != nil {
		return Interval{}, err
	}
	if err := checkTrials("x2", x2, "n2", n2); err != nil {
		return Interval{}, err
	}
	if err := checkAlpha(alpha); err != nil {
		return Interval{}, err
	}
	z := NormalQuantile(1 - alpha/2)
	w1, w2 := wilson(x1, n1, z), wilson(x2, n2, z)
	p1, p2 := ratio(x1, n1), ratio(x2, n2)
	d := p1 - p2
	return Interval{
		Lower: d - math.Hypot(p1-w1.Lower, w2.Upper-p2),
		Upper: d + math.Hypot(p2-w2.Lower, w1.Upper-p1),
	}, nil
}

// ratio is x/n, or 0 for n = 0.
func ratio(x, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(x) / float64(n)
}
