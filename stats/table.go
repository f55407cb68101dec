package stats

import (
	"math"
	"sort"
)

// Table2x2 is a 2x2 contingency table
//
//	[[A, B],
//	 [C, D]]
//
// For comparing two models, a row is a model and the columns are correct and
// incorrect predictions: A and B are the first model's correct and incorrect
// counts, C and D the second model's.
type Table2x2 struct {
	A, B, C, D int
}

// Validate reports whether every cell is a count in [0, MaxCount].
func (t Table2x2) Validate() error {
	for _, c := range []struct {
		name string
		v    int
	}{{"cell A", t.A}, {"cell B", t.B}, {"cell C", t.C}, {"cell D", t.D}} {
		if err := checkCount(c.name, c.v); err != nil {
			return err
		}
	}
	return nil
}

// degenerate reports whether a row or a column sums to zero.
func (t Table2x2) degenerate() bool {
	return t.A+t.B == 0 || t.C+t.D == 0 || t.A+t.C == 0 || t.B+t.D == 0
}

// TestResult is the outcome of a test: its statistic, degrees of freedom (0
// for a z statistic) and two-sided p-value.
type TestResult struct {
	Statistic float64 `json:"statistic"`
	DF        int     `json:"df"`
	PValue    float64 `json:"p_value"`
}

// ChiSquare runs Pearson's chi-square test of independence on t (df = 1),
// with Yates' continuity correction when yates is true, as
// scipy.stats.chi2_contingency(table, correction=yates). SciPy's correction
// moves each observed count half a unit toward its expected count, but never
// past it, so the corrected statistic is N*max(|AD-BC| - N/2, 0)^2 / (row and
// column totals). A table with an empty row or column gives statistic 0 and
// p-value 1.
func ChiSquare(t Table2x2, yates bool) (TestResult, error) {
	if err := t.Validate(); err != nil {
		return TestResult{}, err
	}
	if t.degenerate() {
		return TestResult{Statistic: 0, DF: 1, PValue: 1}, nil
	}
	a, b, c, d := float64(t.A), float64(t.B), float64(t.C), float64(t.D)
	n := a + b + c + d
	r1, r2, c1, c2 := a+b, c+d, a+c, b+d
	obs := [4]float64{a, b, c, d}
	exp := [4]float64{r1 * c1 / n, r1 * c2 / n, r2 * c1 / n, r2 * c2 / n}
	stat := 0.0
	for i := range obs {
		diff := math.Abs(obs[i] - exp[i])
		if yates {
			diff = math.Max(diff-0.5, 0)
		}
		stat += diff * diff / exp[i]
	}
	return TestResult{Statistic: stat, DF: 1, PValue: ChiSquare1SF(stat)}, nil
}

// FisherResult is the outcome of Fisher's exact test.
type FisherResult struct {
	// OddsRatio is the sample odds ratio A*D / (B*C): +Inf when B*C = 0 (with
	// non-empty margins), 1 when a row or column is empty.
	OddsRatio float64 `json:"odds_ratio"`
	// PValue is the two-sided p-value.
	PValue float64 `json:"p_value"`
}

// fisherTolerance is the relative tolerance under which a table counts as
// "as probable as the observed one" (R's fisher.test uses the same 1e-7).
const fisherTolerance = 1e-7

// FisherExact runs Fisher's exact test on t, two-sided, as
// scipy.stats.fisher_exact(table): conditional on the margins, A follows a
// hypergeometric distribution, and the p-value is the total probability of
// the values of A whose probability is at most the observed one times
// (1 + 1e-7). Summation starts at the boundary and walks outward, stopping
// once terms fall below 1e-17 of the sum, so large tables stay cheap. A table
// with an empty row or column gives p-value 1 and odds ratio 1.
func FisherExact(t Table2x2) (FisherResult, error) {
	if err := t.Validate(); err != nil {
		return FisherResult{}, err
	}
	if t.degenerate() {
		return FisherResult{OddsRatio: 1, PValue: 1}, nil
	}
	or := math.Inf(1)
	if t.B > 0 && t.C > 0 {
		or = (float64(t.A) * float64(t.D)) / (float64(t.B) * float64(t.C))
	}
	row1 := t.A + t.B
	total := t.A + t.B + t.C + t.D
	col1 := t.A + t.C
	lo := max(0, col1-(t.C+t.D))
	hi := min(col1, row1)
	logp := func(x int) float64 { return LogHypergeometricPMF(x, total, row1, col1) }

	mode := int(float64(col1+1) * float64(row1+1) / float64(total+2))
	mode = min(max(mode, lo), hi)
	lobs := logp(t.A)
	limit := lobs + math.Log1p(fisherTolerance)
	if logp(mode) <= limit {
		return FisherResult{OddsRatio: or, PValue: 1}, nil
	}
	// The pmf rises up to the mode and falls after it. One tail starts at the
	// observed value; the other at the first value past the mode that is no
	// more probable than the observed one.
	var sum float64
	if t.A < mode {
		sum = tailSum(logp, lobs, t.A, lo, -1)
		// first y in [mode, hi] with logp(y) <= limit
		k := sort.Search(hi-mode+1, func(i int) bool { return logp(mode+i) <= limit })
		if y := mode + k; y <= hi {
			sum += tailSum(logp, lobs, y, hi, +1)
		}
	} else {
		sum = tailSum(logp, lobs, t.A, hi, +1)
		// last y in [lo, mode] with logp(y) <= limit: search for the first
		// value (walking down from the mode) at or below the limit.
		k := sort.Search(mode-lo+1, func(i int) bool { return logp(mode-i) <= limit })
		if y := mode - k; y >= lo {
			sum += tailSum(logp, lobs, y, lo, -1)
		}
	}
	p := math.Exp(lobs + math.Log(sum))
	return FisherResult{OddsRatio: or, PValue: math.Min(p, 1)}, nil
}

// tailSum returns the sum over x from start to end (inclusive, stepping by
// step) of exp(logp(x) - ref), stopping once the terms become negligible.
// Terms decrease monotonically along the walk.
func tailSum(logp func(int) float64, ref float64, start, end, step int) float64 {
	s := 0.0
	for x := start; ; x += step {
		term := math.Exp(logp(x) - ref)
		s += term
		if x == end || term < 1e-17*s {
			break
		}
	}
	return s
}

// TwoProportionZTest tests whether x1/n1 and x2/n2 differ, with the pooled
// variance p(1-p)(1/n1 + 1/n2), p = (x1+x2)/(n1+n2), as
// statsmodels.stats.proportion.proportions_ztest([x1, x2], [n1, n2]). The
// statistic is z = (x1/n1 - x2/n2) / sqrt(variance) and the p-value
// two-sided. An empty arm, or a pooled proportion of 0 or 1, gives z = 0 and
// p-value 1.
func TwoProportionZTest(x1, n1, x2, n2 int) (TestResult, error) {
	if err := checkTrials("x1", x1, "n1", n1); err != nil {
		return TestResult{}, err
	}
	if err := checkTrials("x2", x2, "n2", n2); err != nil {
		return TestResult{}, err
	}
	if n1 == 0 || n2 == 0 {
		return TestResult{PValue: 1}, nil
	}
	p := float64(x1+x2) / float64(n1+n2)
	v := p * (1 - p) * (1/float64(n1) + 1/float64(n2))
	if !(v > 0) {
		return TestResult{PValue: 1}, nil
	}
	z := (float64(x1)/float64(n1) - float64(x2)/float64(n2)) / math.Sqrt(v)
	return TestResult{Statistic: z, PValue: math.Min(2*NormalSF(math.Abs(z)), 1)}, nil
}
