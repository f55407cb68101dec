package decision

import (
	"errors"
	"fmt"
	"math"

	"github.com/healthcare-ai/platform/stats"
	"github.com/healthcare-ai/platform/stats/sequential"
)

// Action is what the experiment should do next.
type Action string

// The three actions.
const (
	Promote     Action = "PROMOTE"
	KeepTesting Action = "KEEP_TESTING"
	Rollback    Action = "ROLLBACK"
)

// Metric is the primary metric the challenger must improve.
type Metric string

// The selectable primary metrics.
const (
	Accuracy         Metric = "accuracy"
	Sensitivity      Metric = "sensitivity"
	Specificity      Metric = "specificity"
	BalancedAccuracy Metric = "balanced_accuracy"
)

// Mode says how the arms were observed.
type Mode string

// The two modes: independent arms (A/B split) and paired (shadow mode, both
// models score every image).
const (
	TwoArm Mode = "two-arm"
	Paired Mode = "paired"
)

// ErrInvalidInput wraps errors about the configuration or the counts.
var ErrInvalidInput = errors.New("invalid decision input")

// ErrStateMismatch is returned when the State passed in does not belong to
// this configuration or these counts (other metric, alpha, tau or mode, or
// counts smaller than at the previous look). Start again from a zero State
// when the experiment or its models change.
var ErrStateMismatch = errors.New("decision state does not match")

// Config holds the thresholds of Decide and DecidePaired. See the package
// documentation for the seed's values.
type Config struct {
	// Alpha is the error guarantee of the always-valid tests and the level
	// of every interval (0.05).
	Alpha float64 `json:"alpha"`
	// Metric is the primary metric (accuracy).
	Metric Metric `json:"metric"`
	// SensitivityMargin is the non-inferiority margin on sensitivity, as a
	// proportion (0.02 = 2 points).
	SensitivityMargin float64 `json:"sensitivity_margin"`
	// MinLabelledPerArm is the labelled predictions each arm needs before a
	// promotion (100; the seed used 50). In shadow mode it counts pairs.
	MinLabelledPerArm int `json:"min_labelled_per_arm"`
	// MinCoverage is the share of served predictions that must have
	// feedback in each arm before a promotion (0.10), so that a few labelled
	// cases do not stand for many unlabelled ones.
	MinCoverage float64 `json:"min_coverage"`
	// Tau is the mixing standard deviation of the mSPRT on the difference
	// scale (0.05 = 5 points; see package stats/sequential).
	Tau float64 `json:"tau"`
	// DiscordantPriorSD is the prior standard deviation of the net win share
	// among discordant pairs in shadow mode (0.3).
	DiscordantPriorSD float64 `json:"discordant_prior_sd"`
	// MinDifference is the smallest difference worth detecting (0.01, the
	// seed's 1 point); it only feeds EstimatedSamplesNeeded when the observed
	// difference is smaller.
	MinDifference float64 `json:"min_difference"`
}

// DefaultConfig returns the platform's thresholds.
func DefaultConfig() Config {
	return Config{
		Alpha:             0.05,
		Metric:            Accuracy,
		SensitivityMargin: 0.02,
		MinLabelledPerArm: 100,
		MinCoverage:       0.10,
		Tau:               0.05,
		DiscordantPriorSD: 0.3,
		MinDifference:     0.01,
	}
}

// Validate checks every field and names the first bad one.
func (c Config) Validate() error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("%w: %s %v: %s", ErrInvalidInput, field, v, why)
	}
	switch {
	case !(c.Alpha > 0 && c.Alpha < 1):
		return bad("alpha", c.Alpha, "must be in (0, 1)")
	case c.Metric != Accuracy && c.Metric != Sensitivity && c.Metric != Specificity && c.Metric != BalancedAccuracy:
		return bad("metric", fmt.Sprintf("%q", c.Metric), "must be one of accuracy, sensitivity, specificity, balanced_accuracy")
	case !(c.SensitivityMargin >= 0 && c.SensitivityMargin < 1):
		return bad("sensitivity_margin", c.SensitivityMargin, "must be in [0, 1)")
	case c.MinLabelledPerArm < 0:
		return bad("min_labelled_per_arm", c.MinLabelledPerArm, "must not be negative")
	case !(c.MinCoverage >= 0 && c.MinCoverage <= 1):
		return bad("min_coverage", c.MinCoverage, "must be in [0, 1]")
	case !(c.Tau > 0 && c.Tau < 1):
		return bad("tau", c.Tau, "must be in (0, 1)")
	case !(c.DiscordantPriorSD > 0 && c.DiscordantPriorSD < 1):
		return bad("discordant_prior_sd", c.DiscordantPriorSD, "must be in (0, 1)")
	case !(c.MinDifference > 0 && c.MinDifference < 1):
		return bad("min_difference", c.MinDifference, "must be in (0, 1)")
	}
	return nil
}

func (c Config) sequential() sequential.Config {
	return sequential.Config{Alpha: c.Alpha, Tau: c.Tau}
}

// Confusion is one model's confusion matrix on labelled predictions
// (positive = pneumonia).
type Confusion struct {
	TP int `json:"tp"`
	FP int `json:"fp"`
	TN int `json:"tn"`
	FN int `json:"fn"`
}

// Labelled is the number of predictions with feedback.
func (c Confusion) Labelled() int { return c.TP + c.FP + c.TN + c.FN }

// Positives is the number of labelled pneumonia cases.
func (c Confusion) Positives() int { return c.TP + c.FN }

// Negatives is the number of labelled normal cases.
func (c Confusion) Negatives() int { return c.TN + c.FP }

// Correct is the number of correct predictions.
func (c Confusion) Correct() int { return c.TP + c.TN }

func (c Confusion) validate(arm string) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"tp", c.TP}, {"fp", c.FP}, {"tn", c.TN}, {"fn", c.FN}} {
		if f.v < 0 || f.v > stats.MaxCount/4 {
			return fmt.Errorf("%w: %s %s %d: must be a count in [0, %d]", ErrInvalidInput, arm, f.name, f.v, stats.MaxCount/4)
		}
	}
	return nil
}

// Arm is one arm of a two-arm experiment.
type Arm struct {
	Confusion
	// Served is the number of predictions the arm served (with or without
	// feedback), for the coverage rule. Coverage is Labelled/Served, capped at
	// 1 (a served count that lags the feedback count does not block).
	Served int `json:"served"`
}

// Input is the state of a two-arm experiment: each arm's counts so far.
type Input struct {
	Champion   Arm `json:"champion"`
	Challenger Arm `json:"challenger"`
}

// PairedCounts are the paired outcomes of both models on the same cases.
type PairedCounts struct {
	BothCorrect    int `json:"both_correct"`
	OnlyChampion   int `json:"only_champion"`
	OnlyChallenger int `json:"only_challenger"`
	BothWrong      int `json:"both_wrong"`
}

// Total is the number of pairs.
func (p PairedCounts) Total() int {
	return p.BothCorrect + p.OnlyChampion + p.OnlyChallenger + p.BothWrong
}

func (p PairedCounts) validate(class string) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"both_correct", p.BothCorrect}, {"only_champion", p.OnlyChampion}, {"only_challenger", p.OnlyChallenger}, {"both_wrong", p.BothWrong}} {
		if f.v < 0 || f.v > stats.MaxCount/8 {
			return fmt.Errorf("%w: %s %s %d: must be a count in [0, %d]", ErrInvalidInput, class, f.name, f.v, stats.MaxCount/8)
		}
	}
	return nil
}

// PairedInput is the state of a shadow-mode experiment: paired outcomes on
// labelled pneumonia cases (Positives) and normal cases (Negatives), and the
// number of images both models scored (Served), for coverage.
type PairedInput struct {
	Positives PairedCounts `json:"positives"`
	Negatives PairedCounts `json:"negatives"`
	Served    int          `json:"served"`
}

// Pairs is the number of labelled pairs.
func (p PairedInput) Pairs() int { return p.Positives.Total() + p.Negatives.Total() }

// arms returns each model's confusion matrix implied by the pairs.
func (p PairedInput) arms() (champion, challenger Arm) {
	pos, neg := p.Positives, p.Negatives
	champion = Arm{Served: p.Served, Confusion: Confusion{
		TP: pos.BothCorrect + pos.OnlyChampion, FN: pos.OnlyChallenger + pos.BothWrong,
		TN: neg.BothCorrect + neg.OnlyChampion, FP: neg.OnlyChallenger + neg.BothWrong,
	}}
	challenger = Arm{Served: p.Served, Confusion: Confusion{
		TP: pos.BothCorrect + pos.OnlyChallenger, FN: pos.OnlyChampion + pos.BothWrong,
		TN: neg.BothCorrect + neg.OnlyChallenger, FP: neg.OnlyChampion + neg.BothWrong,
	}}
	return champion, challenger
}

// State carries the always-valid summaries from one look to the next. The
// zero State starts a new experiment. Store the State of each Decision and
// pass it to the next call for the same experiment; start from zero when the
// experiment, its models or the configuration change.
type State struct {
	Mode               Mode    `json:"mode,omitempty"`
	Metric             Metric  `json:"metric,omitempty"`
	Alpha              float64 `json:"alpha,omitempty"`
	Tau                float64 `json:"tau,omitempty"`
	DiscordantPriorSD  float64 `json:"discordant_prior_sd,omitempty"`
	ChampionLabelled   int     `json:"champion_labelled"`
	ChallengerLabelled int     `json:"challenger_labelled"`
	// Test summarizes the primary test: running minimum p-value and the
	// running intersection of its confidence sequence (on the difference
	// scale, or on the discordant win share for the exact paired test).
	Test sequential.Running `json:"test"`
	// Difference is the confidence sequence of challenger minus champion on
	// the primary metric.
	Difference sequential.Running `json:"difference"`
	// Sensitivity is the confidence sequence of challenger minus champion
	// sensitivity (the guardrail).
	Sensitivity sequential.Running `json:"sensitivity"`
}

func (s State) check(cfg Config, mode Mode, champ, chall int) error {
	if s.Test.Looks == 0 {
		return nil
	}
	if s.Mode != mode || s.Metric != cfg.Metric || s.Alpha != cfg.Alpha || s.Tau != cfg.Tau || s.DiscordantPriorSD != cfg.DiscordantPriorSD {
		return fmt.Errorf("%w: state is for mode %s, metric %s, alpha %v, tau %v, discordant prior sd %v; call is for %s, %s, %v, %v, %v",
			ErrStateMismatch, s.Mode, s.Metric, s.Alpha, s.Tau, s.DiscordantPriorSD, mode, cfg.Metric, cfg.Alpha, cfg.Tau, cfg.DiscordantPriorSD)
	}
	if champ < s.ChampionLabelled || chall < s.ChallengerLabelled {
		return fmt.Errorf("%w: labelled counts went down (champion %d -> %d, challenger %d -> %d)",
			ErrStateMismatch, s.ChampionLabelled, champ, s.ChallengerLabelled, chall)
	}
	return nil
}

// Estimate is a point estimate with an interval.
type Estimate struct {
	Value float64 `json:"value"`
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// ArmEstimates are one arm's metrics with intervals at level 1-Alpha:
// Wilson score intervals for accuracy, sensitivity and specificity (fixed
// sample, for display), and a Wald interval for balanced accuracy.
type ArmEstimates struct {
	Labelled         int      `json:"labelled"`
	Served           int      `json:"served"`
	Coverage         float64  `json:"coverage"`
	Accuracy         Estimate `json:"accuracy"`
	Sensitivity      Estimate `json:"sensitivity"`
	Specificity      Estimate `json:"specificity"`
	BalancedAccuracy Estimate `json:"balanced_accuracy"`
}

// Decision is the outcome of one look.
type Decision struct {
	Action Action `json:"action"`
	// Reason is one human sentence with the numbers behind the action.
	Reason string `json:"reason"`
	// Test names the primary test.
	Test   string `json:"test"`
	Metric Metric `json:"metric"`
	// Statistic is the primary test's z at this look (the estimate over its
	// standard error; for the exact discordant test the sign-test z).
	// For SeedRule it is the chi-square statistic.
	Statistic float64 `json:"statistic"`
	// LogLikelihoodRatio is log Lambda of the mixture SPRT at this look;
	// significance is Lambda >= 1/Alpha at some look. 0 for SeedRule.
	LogLikelihoodRatio float64 `json:"log_likelihood_ratio"`
	// PValue is the always-valid p-value (running minimum over all looks).
	// For SeedRule it is the fixed-sample chi-square p-value of this look,
	// which is not valid under repeated looks.
	PValue float64 `json:"p_value"`
	// Difference is challenger minus champion on the primary metric with
	// its always-valid confidence sequence (SeedRule: Newcombe interval).
	Difference Estimate `json:"difference"`
	// SensitivityDifference is challenger minus champion sensitivity with
	// its always-valid confidence sequence.
	SensitivityDifference Estimate     `json:"sensitivity_difference"`
	Champion              ArmEstimates `json:"champion"`
	Challenger            ArmEstimates `json:"challenger"`
	// EstimatedSamplesNeeded is set only with KEEP_TESTING: the additional
	// labelled predictions per arm (pairs in shadow mode) after which the
	// condition blocking a decision would clear if the current estimates
	// held (for "no significant difference yet", an effect of
	// max(|observed|, MinDifference)). It is a planning guide, not a
	// promise; capped at MaxSamplesNeeded. It is 0 when the confidence
	// sequence already lies within +/-MinDifference: the models are
	// equivalent at that precision and more feedback will not decide.
	EstimatedSamplesNeeded int `json:"estimated_samples_needed,omitempty"`
	// State is to be passed to the next call.
	State State `json:"state"`
}

// MaxSamplesNeeded caps Decision.EstimatedSamplesNeeded.
const MaxSamplesNeeded = 1_000_000_000

// noEvidence returns a look with no information on a difference.
func noEvidence() sequential.Look { return sequential.Look{PValue: 1, Lower: -1, Upper: 1} }

// analysis is what the rules need from the counts.
type analysis struct {
	mode       Mode
	test       sequential.Look // primary test look
	testNull   float64         // null value of the primary test
	exact      bool            // the primary test is the exact discordant-pair test
	diff       sequential.Look // primary difference on the difference scale
	sens       sequential.Look // sensitivity difference
	perArm     float64         // current labelled per arm (pairs), for sample sizes
	champion   Arm
	challenger Arm
}

// Decide evaluates a two-arm experiment after a look. prev is the State of
// the previous Decision for this experiment (zero for the first look).
func Decide(cfg Config, prev State, in Input) (Decision, error) {
	an, err := analyzeTwoArm(cfg, prev, in)
	if err != nil {
		return Decision{}, err
	}
	return describe(cfg, an, judge(cfg, prev, an)), nil
}

// DecidePaired evaluates a shadow-mode experiment after a look. prev is the
// State of the previous Decision for this experiment.
func DecidePaired(cfg Config, prev State, in PairedInput) (Decision, error) {
	an, err := analyzePaired(cfg, prev, in)
	if err != nil {
		return Decision{}, err
	}
	return describe(cfg, an, judge(cfg, prev, an)), nil
}

// analyzeTwoArm validates a two-arm look and runs its sequential tests.
func analyzeTwoArm(cfg Config, prev State, in Input) (analysis, error) {
	if err := cfg.Validate(); err != nil {
		return analysis{}, err
	}
	if err := in.Champion.validate("champion"); err != nil {
		return analysis{}, err
	}
	if err := in.Challenger.validate("challenger"); err != nil {
		return analysis{}, err
	}
	if in.Champion.Served < 0 || in.Challenger.Served < 0 {
		return analysis{}, fmt.Errorf("%w: served %d, %d: must not be negative", ErrInvalidInput, in.Champion.Served, in.Challenger.Served)
	}
	nA, nB := in.Champion.Labelled(), in.Challenger.Labelled()
	if err := prev.check(cfg, TwoArm, nA, nB); err != nil {
		return analysis{}, err
	}
	sc := cfg.sequential()
	a, b := in.Champion.Confusion, in.Challenger.Confusion
	an := analysis{mode: TwoArm, champion: in.Champion, challenger: in.Challenger}
	an.sens = twoProportions(a.TP, a.Positives(), b.TP, b.Positives(), sc)
	switch cfg.Metric {
	case Accuracy:
		an.diff = twoProportions(a.Correct(), nA, b.Correct(), nB, sc)
	case Sensitivity:
		an.diff = an.sens
	case Specificity:
		an.diff = twoProportions(a.TN, a.Negatives(), b.TN, b.Negatives(), sc)
	case BalancedAccuracy:
		es, vs := sequential.DiffVariance(a.TP, a.Positives(), b.TP, b.Positives())
		ep, vp := sequential.DiffVariance(a.TN, a.Negatives(), b.TN, b.Negatives())
		an.diff = normalLook((es+ep)/2, (vs+vp)/4, sc)
	}
	an.test = an.diff
	if nA > 0 && nB > 0 {
		an.perArm = 2 / (1/float64(nA) + 1/float64(nB))
	}
	return an, nil
}

// analyzePaired validates a shadow-mode look and runs its sequential tests.
func analyzePaired(cfg Config, prev State, in PairedInput) (analysis, error) {
	if err := cfg.Validate(); err != nil {
		return analysis{}, err
	}
	if err := in.Positives.validate("positives"); err != nil {
		return analysis{}, err
	}
	if err := in.Negatives.validate("negatives"); err != nil {
		return analysis{}, err
	}
	if in.Served < 0 {
		return analysis{}, fmt.Errorf("%w: served %d: must not be negative", ErrInvalidInput, in.Served)
	}
	n := in.Pairs()
	if err := prev.check(cfg, Paired, n, n); err != nil {
		return analysis{}, err
	}
	sc := cfg.sequential()
	pos, neg := in.Positives, in.Negatives
	an := analysis{mode: Paired, perArm: float64(n)}
	an.champion, an.challenger = in.arms()
	an.sens = pairedLook(pos.OnlyChampion, pos.OnlyChallenger, pos.Total(), sc)

	var b, c int // discordant pairs for the exact test
	switch cfg.Metric {
	case Accuracy:
		b, c = pos.OnlyChampion+neg.OnlyChampion, pos.OnlyChallenger+neg.OnlyChallenger
		an.diff = pairedLook(b, c, n, sc)
	case Sensitivity:
		b, c = pos.OnlyChampion, pos.OnlyChallenger
		an.diff = an.sens
	case Specificity:
		b, c = neg.OnlyChampion, neg.OnlyChallenger
		an.diff = pairedLook(b, c, neg.Total(), sc)
	case BalancedAccuracy:
		es, vs := sequential.PairedVariance(pos.OnlyChampion, pos.OnlyChallenger, pos.Total())
		ep, vp := sequential.PairedVariance(neg.OnlyChampion, neg.OnlyChallenger, neg.Total())
		if pos.Total() == 0 || neg.Total() == 0 {
			an.diff = noEvidence()
		} else {
			an.diff = normalLook((es+ep)/2, (vs+vp)/4, sc)
		}
	}
	if cfg.Metric == BalancedAccuracy {
		an.test = an.diff
	} else {
		l, err := sequential.Discordant(b, c, cfg.DiscordantPriorSD, cfg.Alpha)
		if err != nil {
			return analysis{}, fmt.Errorf("discordant test: %w", err)
		}
		an.test, an.testNull, an.exact = l, 0.5, true
	}
	return an, nil
}

func twoProportions(xA, nA, xB, nB int, sc sequential.Config) sequential.Look {
	l, err := sequential.TwoProportions(xA, nA, xB, nB, sc)
	if err != nil { // counts were validated; keep "no evidence" rather than fail
		return noEvidence()
	}
	return l
}

func pairedLook(onlyA, onlyB, pairs int, sc sequential.Config) sequential.Look {
	l, err := sequential.Paired(onlyA, onlyB, pairs, sc)
	if err != nil {
		return noEvidence()
	}
	return l
}

func normalLook(est, v float64, sc sequential.Config) sequential.Look {
	if !(v > 0) {
		return noEvidence()
	}
	l, err := sequential.Normal(est, v, 0, sc)
	if err != nil {
		return noEvidence()
	}
	l.Lower, l.Upper = math.Max(l.Lower, -1), math.Min(l.Upper, 1)
	return l
}

// testName names the primary test of an analysis.
func testName(cfg Config, an analysis) string {
	switch {
	case an.exact:
		return fmt.Sprintf("always-valid exact test on %s discordant pairs (beta-binomial mixture, prior sd %g)",
			metricName(cfg.Metric), cfg.DiscordantPriorSD)
	case an.mode == Paired:
		return fmt.Sprintf("mSPRT on the paired %s difference (normal mixture, tau=%g)", metricName(cfg.Metric), cfg.Tau)
	}
	return fmt.Sprintf("mSPRT on the %s difference, two arms (normal mixture, tau=%g)", metricName(cfg.Metric), cfg.Tau)
}

func metricName(m Metric) string {
	if m == BalancedAccuracy {
		return "balanced accuracy"
	}
	return string(m)
}

// why says which rule produced the action.
type why int

const (
	whyWorse why = iota
	whySensitivityWorse
	whyBetterFewLabels
	whyBetterLowCoverage
	whyBetterSensitivityUnclear
	whyBetter
	whyUndecided
)

// verdict is the action of one look, with the reason and the new State.
type verdict struct {
	action Action
	why    why
	state  State
}

// judge applies the rules to an analysis. It is the whole decision: describe
// only adds the explanation and the estimates.
func judge(cfg Config, prev State, an analysis) verdict {
	st := State{
		Mode: an.mode, Metric: cfg.Metric, Alpha: cfg.Alpha, Tau: cfg.Tau, DiscordantPriorSD: cfg.DiscordantPriorSD,
		ChampionLabelled:   an.champion.Labelled(),
		ChallengerLabelled: an.challenger.Labelled(),
		Test:               prev.Test.Update(an.test),
		Difference:         prev.Difference.Update(an.diff),
		Sensitivity:        prev.Sensitivity.Update(an.sens),
	}
	better := st.Test.Lower > an.testNull
	worse := st.Test.Upper < an.testNull
	margin := cfg.SensitivityMargin
	minN := min(an.champion.Labelled(), an.challenger.Labelled())
	minCov := min(coverage(an.champion.Labelled(), an.champion.Served), coverage(an.challenger.Labelled(), an.challenger.Served))
	v := verdict{action: KeepTesting, state: st}
	switch {
	case worse:
		v.action, v.why = Rollback, whyWorse
	case st.Sensitivity.Upper < -margin:
		v.action, v.why = Rollback, whySensitivityWorse
	case better && minN < cfg.MinLabelledPerArm:
		v.why = whyBetterFewLabels
	case better && minCov < cfg.MinCoverage:
		v.why = whyBetterLowCoverage
	case better && !(st.Sensitivity.Lower > -margin):
		v.why = whyBetterSensitivityUnclear
	case better:
		v.action, v.why = Promote, whyBetter
	default:
		v.why = whyUndecided
	}
	return v
}

// describe builds the Decision of a verdict: reason, estimates, intervals
// and, for KEEP_TESTING, the estimated samples needed.
func describe(cfg Config, an analysis, v verdict) Decision {
	st := v.state
	d := Decision{
		Action:             v.action,
		Test:               testName(cfg, an),
		Metric:             cfg.Metric,
		Statistic:          an.test.Z,
		LogLikelihoodRatio: an.test.LogLR,
		PValue:             st.Test.PValue,
		Difference:         Estimate{Value: an.diff.Estimate, Lower: st.Difference.Lower, Upper: st.Difference.Upper},
		SensitivityDifference: Estimate{
			Value: an.sens.Estimate, Lower: st.Sensitivity.Lower, Upper: st.Sensitivity.Upper,
		},
		Champion:   armEstimates(an.champion, cfg.Alpha),
		Challenger: armEstimates(an.challenger, cfg.Alpha),
		State:      st,
	}
	margin := cfg.SensitivityMargin
	metric := metricName(cfg.Metric)
	diffText := fmt.Sprintf("%s points (always-valid %g%% CI %s to %s, p=%s)",
		pts(d.Difference.Value), 100*(1-cfg.Alpha), pts(d.Difference.Lower), pts(d.Difference.Upper), pval(d.PValue))
	sensText := fmt.Sprintf("sensitivity difference %s points (CI %s to %s, margin -%s)",
		pts(d.SensitivityDifference.Value), pts(d.SensitivityDifference.Lower), pts(d.SensitivityDifference.Upper), num(100*margin))
	nA, nB := an.champion.Labelled(), an.challenger.Labelled()
	minN := min(nA, nB)
	covA, covB := d.Champion.Coverage, d.Challenger.Coverage
	switch v.why {
	case whyWorse:
		d.Reason = fmt.Sprintf("challenger is significantly worse on %s: %s", metric, diffText)
	case whySensitivityWorse:
		d.Reason = fmt.Sprintf("challenger misses more pneumonia than the margin allows: %s, upper bound below the margin", sensText)
	case whyBetterFewLabels:
		d.Reason = fmt.Sprintf("challenger is significantly better on %s (%s) but has %d and %d labelled per arm, %d needed",
			metric, diffText, nA, nB, cfg.MinLabelledPerArm)
		d.EstimatedSamplesNeeded = cfg.MinLabelledPerArm - minN
	case whyBetterLowCoverage:
		d.Reason = fmt.Sprintf("challenger is significantly better on %s (%s) but feedback covers %s%% and %s%% of served predictions, %s%% needed",
			metric, diffText, num(100*covA), num(100*covB), num(100*cfg.MinCoverage))
		d.EstimatedSamplesNeeded = max(coverageShortfall(an.champion, cfg.MinCoverage), coverageShortfall(an.challenger, cfg.MinCoverage))
	case whyBetterSensitivityUnclear:
		d.Reason = fmt.Sprintf("challenger is significantly better on %s (%s) but sensitivity non-inferiority is not shown yet: %s",
			metric, diffText, sensText)
		d.EstimatedSamplesNeeded = samplesNeeded(an.sens, an.perArm, an.sens.Estimate+margin, cfg, minN)
	case whyBetter:
		d.Reason = fmt.Sprintf("challenger is significantly better on %s: %s; %s; %d and %d labelled per arm",
			metric, diffText, sensText, nA, nB)
	case whyUndecided:
		if -cfg.MinDifference < d.Difference.Lower && d.Difference.Upper < cfg.MinDifference {
			// The confidence sequence already excludes any difference of
			// MinDifference or more: more data will not lead to a decision.
			d.Reason = fmt.Sprintf("challenger and champion are equivalent on %s within %s point(s): %s; more feedback is not expected to show a difference worth acting on",
				metric, num(100*cfg.MinDifference), diffText)
			break
		}
		effect := math.Max(math.Abs(an.diff.Estimate), cfg.MinDifference)
		d.EstimatedSamplesNeeded = max(samplesNeeded(an.diff, an.perArm, effect, cfg, minN), cfg.MinLabelledPerArm-minN, 1)
		d.Reason = fmt.Sprintf("no significant difference on %s yet: %s; about %d more labelled per arm needed if a %s-point difference holds",
			metric, diffText, d.EstimatedSamplesNeeded, num(100*effect))
	}
	return d
}

// samplesNeeded estimates the additional labelled per arm after which the
// confidence sequence of look l would be narrower than effect.
func samplesNeeded(l sequential.Look, perArm, effect float64, cfg Config, current int) int {
	if !(effect > 0) {
		effect = cfg.MinDifference
	}
	sigma2 := l.Variance * perArm // variance per labelled prediction and arm
	if !(sigma2 > 0) {
		sigma2 = 0.5 // no data yet: the largest variance of a difference of proportions
	}
	n := sequential.SampleSizeToDetect(effect, sigma2, cfg.sequential())
	need := math.Ceil(n) - float64(current)
	switch {
	case !(need > 0):
		return 0
	case need > MaxSamplesNeeded:
		return MaxSamplesNeeded
	}
	return int(need)
}

// coverageShortfall is the additional labelled predictions an arm needs to
// reach the coverage minimum at its current served count.
func coverageShortfall(a Arm, minCoverage float64) int {
	need := int(math.Ceil(minCoverage*float64(a.Served))) - a.Labelled()
	return max(need, 0)
}

func coverage(labelled, served int) float64 {
	switch {
	case labelled == 0:
		return 0
	case served <= labelled:
		return 1
	}
	return float64(labelled) / float64(served)
}

func armEstimates(a Arm, alpha float64) ArmEstimates {
	z := stats.NormalQuantile(1 - alpha/2)
	c := a.Confusion
	e := ArmEstimates{
		Labelled:    c.Labelled(),
		Served:      a.Served,
		Coverage:    coverage(c.Labelled(), a.Served),
		Accuracy:    wilson(c.Correct(), c.Labelled(), alpha),
		Sensitivity: wilson(c.TP, c.Positives(), alpha),
		Specificity: wilson(c.TN, c.Negatives(), alpha),
	}
	sens, spec := e.Sensitivity.Value, e.Specificity.Value
	var v float64
	if np := c.Positives(); np > 0 {
		v += sens * (1 - sens) / float64(np)
	} else {
		v += 0.25
	}
	if nn := c.Negatives(); nn > 0 {
		v += spec * (1 - spec) / float64(nn)
	} else {
		v += 0.25
	}
	ba := (sens + spec) / 2
	half := z * math.Sqrt(v/4)
	e.BalancedAccuracy = Estimate{Value: ba, Lower: math.Max(ba-half, 0), Upper: math.Min(ba+half, 1)}
	return e
}

func wilson(x, n int, alpha float64) Estimate {
	iv, err := stats.Wilson(x, n, alpha)
	if err != nil {
		iv = stats.Interval{Lower: 0, Upper: 1}
	}
	v := 0.0
	if n > 0 {
		v = float64(x) / float64(n)
	}
	return Estimate{Value: v, Lower: iv.Lower, Upper: iv.Upper}
}

// pts formats a proportion difference in signed percentage points.
func pts(x float64) string { return fmt.Sprintf("%+.1f", 100*x) }

// num formats a number without trailing zeros.
func num(x float64) string { return fmt.Sprintf("%.3g", x) }

func pval(p float64) string {
	if p < 0.001 {
		return "<0.001"
	}
	return fmt.Sprintf("%.3f", p)
}
