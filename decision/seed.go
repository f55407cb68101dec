package decision

import (
	"fmt"

	"github.com/healthcare-ai/platform/stats"
)

// SeedConfig holds the thresholds of the seed project's rule.
type SeedConfig struct {
	// Alpha: a chi-square p-value below it is "significant" (0.05).
	Alpha float64 `json:"alpha"`
	// MinLabelledPerArm: no verdict before each arm has this many labelled
	// predictions (50).
	MinLabelledPerArm int `json:"min_labelled_per_arm"`
	// MinDifference: an accuracy difference below it is never called
	// significant (0.01).
	MinDifference float64 `json:"min_difference"`
	// PromoteDifference: the challenger is promoted only when significantly
	// better by at least this much (0.05).
	PromoteDifference float64 `json:"promote_difference"`
	// Yates applies the continuity correction, as
	// scipy.stats.chi2_contingency does by default on a 2x2 table (true).
	Yates bool `json:"yates"`
}

// DefaultSeedConfig returns the seed's thresholds.
func DefaultSeedConfig() SeedConfig {
	return SeedConfig{Alpha: 0.05, MinLabelledPerArm: 50, MinDifference: 0.01, PromoteDifference: 0.05, Yates: true}
}

// SeedRule applies the seed project's decision rule to a two-arm
// experiment, for comparison with Decide. It is stateless: the chi-square
// test on the accuracy table is recomputed from scratch at every look, which
// is exactly why it is not valid under continuous monitoring (its PValue is
// a fixed-sample p-value). It never returns ROLLBACK: a significantly worse
// challenger stays in the test, as in the seed. Difference carries the
// Newcombe interval; SensitivityDifference the Newcombe interval on
// sensitivity; both at level 1-Alpha and fixed-sample.
func SeedRule(cfg SeedConfig, in Input) (Decision, error) {
	v, err := seedJudge(cfg, in)
	if err != nil {
		return Decision{}, err
	}
	a, b := in.Champion.Confusion, in.Challenger.Confusion
	nA, nB := a.Labelled(), b.Labelled()
	test := "Pearson chi-square on accuracy, recomputed at every look"
	if cfg.Yates {
		test = "Pearson chi-square with Yates' correction on accuracy, recomputed at every look"
	}
	d := Decision{
		Action:     v.action,
		Test:       test,
		Metric:     Accuracy,
		Statistic:  v.result.Statistic,
		PValue:     v.result.PValue,
		Champion:   armEstimates(in.Champion, cfg.Alpha),
		Challenger: armEstimates(in.Challenger, cfg.Alpha),
	}
	d.Difference = newcombe(b.Correct(), nB, a.Correct(), nA, cfg.Alpha)
	d.SensitivityDifference = newcombe(b.TP, b.Positives(), a.TP, a.Positives(), cfg.Alpha)
	text := fmt.Sprintf("%s points, chi-square %.2f, p=%s", pts(v.diff), v.result.Statistic, pval(v.result.PValue))
	switch v.why {
	case seedTooFew:
		d.Reason = fmt.Sprintf("insufficient data: %d and %d labelled per arm, %d needed", nA, nB, cfg.MinLabelledPerArm)
		d.EstimatedSamplesNeeded = cfg.MinLabelledPerArm - min(nA, nB)
	case seedPromote:
		d.Reason = fmt.Sprintf("challenger significantly better on accuracy by at least %s points: %s", num(100*cfg.PromoteDifference), text)
	case seedBetterSmall:
		d.Reason = fmt.Sprintf("challenger significantly better on accuracy but below the %s-point promotion threshold: %s",
			num(100*cfg.PromoteDifference), text)
	case seedWorse:
		d.Reason = fmt.Sprintf("champion significantly better on accuracy (the seed's rule never rolls back): %s", text)
	default:
		d.Reason = fmt.Sprintf("no significant accuracy difference: %s", text)
	}
	return d, nil
}

type seedWhy int

const (
	seedTooFew seedWhy = iota
	seedPromote
	seedBetterSmall
	seedWorse
	seedUndecided
)

type seedVerdict struct {
	action Action
	why    seedWhy
	result stats.TestResult
	diff   float64
}

// seedJudge is the seed's rule without the explanation.
func seedJudge(cfg SeedConfig, in Input) (seedVerdict, error) {
	if !(cfg.Alpha > 0 && cfg.Alpha < 1) {
		return seedVerdict{}, fmt.Errorf("%w: alpha %v: must be in (0, 1)", ErrInvalidInput, cfg.Alpha)
	}
	if cfg.MinLabelledPerArm < 0 {
		return seedVerdict{}, fmt.Errorf("%w: min_labelled_per_arm %d: must not be negative", ErrInvalidInput, cfg.MinLabelledPerArm)
	}
	if err := in.Champion.validate("champion"); err != nil {
		return seedVerdict{}, err
	}
	if err := in.Challenger.validate("challenger"); err != nil {
		return seedVerdict{}, err
	}
	a, b := in.Champion.Confusion, in.Challenger.Confusion
	nA, nB := a.Labelled(), b.Labelled()
	v := seedVerdict{action: KeepTesting, why: seedTooFew, result: stats.TestResult{DF: 1, PValue: 1},
		diff: ratio(b.Correct(), nB) - ratio(a.Correct(), nA)}
	if nA < cfg.MinLabelledPerArm || nB < cfg.MinLabelledPerArm {
		return v, nil
	}
	r, err := stats.ChiSquare(stats.Table2x2{A: a.Correct(), B: nA - a.Correct(), C: b.Correct(), D: nB - b.Correct()}, cfg.Yates)
	if err != nil {
		return seedVerdict{}, fmt.Errorf("chi-square: %w", err)
	}
	v.result = r
	significant := r.PValue < cfg.Alpha && abs(v.diff) >= cfg.MinDifference
	switch {
	case significant && v.diff >= cfg.PromoteDifference:
		v.action, v.why = Promote, seedPromote
	case significant && v.diff > 0:
		v.why = seedBetterSmall
	case significant:
		v.why = seedWorse
	default:
		v.why = seedUndecided
	}
	return v, nil
}

func newcombe(x1, n1, x2, n2 int, alpha float64) Estimate {
	iv, err := stats.Newcombe(x1, n1, x2, n2, alpha)
	if err != nil {
		iv = stats.Interval{Lower: -1, Upper: 1}
	}
	return Estimate{Value: ratio(x1, n1) - ratio(x2, n2), Lower: iv.Lower, Upper: iv.Upper}
}

func ratio(x, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(x) / float64(n)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
