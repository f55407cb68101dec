package stats

import "math"

// CohenH is the effect size of two proportions on the arcsine scale,
// 2*asin(sqrt(p1)) - 2*asin(sqrt(p2)) (statsmodels proportion_effectsize).
func CohenH(p1, p2 float64) float64 {
	return 2*math.Asin(math.Sqrt(p1)) - 2*math.Asin(math.Sqrt(p2))
}

func checkProportion(name string, p float64) error {
	if !(p >= 0 && p <= 1) {
		return invalid("%s %v: must be in [0, 1]", name, p)
	}
	return nil
}

// PowerTwoProportions returns the power of the two-sided level-alpha test
// comparing two proportions p1 and p2 with nPerArm observations in each arm,
// by the normal approximation on the arcsine scale: with h = CohenH(p1, p2)
// and z = NormalQuantile(1-alpha/2),
//
//	power = P(Z > z - |h|*sqrt(n/2)) + P(Z < -z - |h|*sqrt(n/2)),
//
// as statsmodels NormalIndPower().power(proportion_effectsize(p1, p2), n,
// alpha, ratio=1, alternative="two-sided"). nPerArm may be fractional. Equal
// proportions (or nPerArm = 0) give alpha.
func PowerTwoProportions(p1, p2, nPerArm, alpha float64) (float64, error) {
	if err := checkProportion("p1", p1); err != nil {
		return 0, err
	}
	if err := checkProportion("p2", p2); err != nil {
		return 0, err
	}
	if !(nPerArm >= 0) || math.IsInf(nPerArm, 1) {
		return 0, invalid("nPerArm %v: must be a finite number >= 0", nPerArm)
	}
	if err := checkAlpha(alpha); err != nil {
		return 0, err
	}
	return powerH(math.Abs(CohenH(p1, p2)), nPerArm, NormalQuantile(1-alpha/2)), nil
}

func powerH(h, n, z float64) float64 {
	shift := h * math.Sqrt(n/2)
	return NormalSF(z-shift) + NormalCDF(-z-shift)
}

// SampleSizeTwoProportions returns the number of observations per arm (not
// rounded; take math.Ceil for planning) at which PowerTwoProportions reaches
// power, solved to a relative precision of 1e-12. It matches statsmodels
// NormalIndPower().solve_power(effect_size=proportion_effectsize(p1, p2),
// alpha=alpha, power=power, ratio=1, alternative="two-sided"). The
// approximation ignores the pooled-versus-unpooled variance question by
// working on the arcsine scale, where the variance is 1/n whatever p is.
// Equal proportions give ErrNoEffect; power must be in (alpha, 1).
func SampleSizeTwoProportions(p1, p2, alpha, power float64) (float64, error) {
	if err := checkProportion("p1", p1); err != nil {
		return 0, err
	}
	if err := checkProportion("p2", p2); err != nil {
		return 0, err
	}
	if err := checkAlpha(alpha); err != nil {
		return 0, err
	}
	if !(power > alpha && power < 1) {
		return 0, invalid("power %v: must be in (alpha, 1) = (%v, 1)", power, alpha)
	}
	h := math.Abs(CohenH(p1, p2))
	if h == 0 {
		return 0, ErrNoEffect
	}
	z := NormalQuantile(1 - alpha/2)
	// Start from the one-tail formula, which ignores the far tail and so
	// is an upper bound; the far tail only adds power.
	hiN := 2 * math.Pow((z+NormalQuantile(power))/h, 2)
	loN := 0.0
	for i := 0; i < 200 && hiN-loN > 1e-12*hiN; i++ {
		mid := (loN + hiN) / 2
		if powerH(h, mid, z) < power {
			loN = mid
		} else {
			hiN = mid
		}
	}
	return hiN, nil
}
