package stats

import "math"

// McNemarOptions chooses between the exact and the asymptotic McNemar test.
type McNemarOptions struct {
	// ExactBelow: the exact binomial test is used when the number of
	// discordant pairs b+c is below it, the chi-square test otherwise. 0
	// always uses the chi-square test; math.MaxInt always the exact one.
	ExactBelow int
	// Correction applies the continuity correction to the chi-square test.
	Correction bool
}

// DefaultMcNemarOptions returns exact below 25 discordant pairs, continuity
// correction otherwise: the usual textbook rule.
func DefaultMcNemarOptions() McNemarOptions {
	return McNemarOptions{ExactBelow: 25, Correction: true}
}

// McNemarResult is the outcome of McNemar's test.
type McNemarResult struct {
	// Statistic is min(b, c) for the exact test, the chi-square statistic
	// otherwise (as statsmodels reports them).
	Statistic float64 `json:"statistic"`
	// PValue is two-sided.
	PValue float64 `json:"p_value"`
	// Exact tells which test ran.
	Exact bool `json:"exact"`
}

// McNemar tests paired binary outcomes for marginal homogeneity from the two
// discordant counts: b pairs where only the first model was correct and c
// pairs where only the second was (the concordant pairs do not enter). It
// matches statsmodels.stats.contingency_tables.mcnemar:
//
//   - exact (b+c < opts.ExactBelow): statistic min(b, c) and p-value
//     min(1, 2 * P(X <= min(b, c))) for X ~ Binomial(b+c, 1/2);
//   - otherwise statistic (|b-c| - k)^2 / (b+c) with k = 1 when
//     opts.Correction (0 otherwise) and its chi-square(1) p-value. Like
//     statsmodels, the corrected statistic is not floored at zero, so b = c
//     gives 1/(b+c) rather than 0.
//
// With b = c = 0 both tests give statistic 0 and p-value 1.
func McNemar(b, c int, opts McNemarOptions) (McNemarResult, error) {
	if err := checkCount("b", b); err != nil {
		return McNemarResult{}, err
	}
	if err := checkCount("c", c); err != nil {
		return McNemarResult{}, err
	}
	n := b + c
	exact := n < opts.ExactBelow
	if n == 0 {
		return McNemarResult{Statistic: 0, PValue: 1, Exact: exact}, nil
	}
	if exact {
		k := min(b, c)
		p := 2 * BinomialCDF(k, n, 0.5)
		return McNemarResult{Statistic: float64(k), PValue: math.Min(p, 1), Exact: true}, nil
	}
	corr := 0.0
	if opts.Correction {
		corr = 1
	}
	d := math.Abs(float64(b)-float64(c)) - corr
	stat := d * d / float64(n)
	return McNemarResult{Statistic: stat, PValue: ChiSquare1SF(stat)}, nil
}
