package decision

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/healthcare-ai/platform/stats"
)

// The simulations look after every single feedback, as the platform does.
// They call the decision core (analyze + judge: everything Decide decides,
// without formatting the reason and the display intervals, which would make
// millions of looks slow); TestCoreMatchesDecide checks that the core and
// Decide agree. Figures are recorded in stats/SIMULATION.md.

const (
	simPrevalence = 0.6  // share of pneumonia among labelled cases
	simCap        = 2000 // labelled per arm at which a run stops undecided
	simCoverage   = 0.5  // feedback on half of the served predictions
)

// lookFunc decides one look of one run and names the rule that fired;
// newRule makes a fresh one per run.
type lookFunc func(in Input) (Action, string, error)

func decideRule(cfg Config) func() lookFunc {
	return func() lookFunc {
		var st State
		return func(in Input) (Action, string, error) {
			an, err := analyzeTwoArm(cfg, st, in)
			if err != nil {
				return "", "", err
			}
			v := judge(cfg, st, an)
			st = v.state
			return v.action, whyNames[v.why], nil
		}
	}
}

func seedRule(cfg SeedConfig) func() lookFunc {
	return func() lookFunc {
		return func(in Input) (Action, string, error) {
			v, err := seedJudge(cfg, in)
			return v.action, "seed", err
		}
	}
}

var whyNames = map[why]string{
	whyWorse: "worse on the primary metric", whySensitivityWorse: "sensitivity guardrail",
	whyBetter: "better", whyUndecided: "undecided", whyBetterFewLabels: "few labels",
	whyBetterLowCoverage: "low coverage", whyBetterSensitivityUnclear: "sensitivity unclear",
}

type simOutcome struct {
	runs, promote, rollback int
	atDecision              []float64      // mean labelled per arm when promoted
	reasons                 map[string]int // decisions by the rule that fired
}

func (o simOutcome) falseRate() float64 { return float64(o.promote+o.rollback) / float64(o.runs) }

func (o simOutcome) median() float64 { return o.quantile(0.5) }

// quantile of the labelled counts at promotion (nearest rank).
func (o simOutcome) quantile(q float64) float64 {
	if len(o.atDecision) == 0 {
		return math.NaN()
	}
	s := slices.Clone(o.atDecision)
	slices.Sort(s)
	return s[min(int(q*float64(len(s))), len(s)-1)]
}

// promotedBy is the share of runs promoted with at most n labelled per arm.
func (o simOutcome) promotedBy(n float64) float64 {
	k := 0
	for _, v := range o.atDecision {
		if v <= n {
			k++
		}
	}
	return float64(k) / float64(o.runs)
}

// simulateTwoArm runs independent experiments in which each feedback goes to
// a random arm; within an arm a case is pneumonia with probability
// simPrevalence and the model is right with probability acc (sensitivity =
// specificity = acc). A run stops at the first PROMOTE or ROLLBACK, or when
// an arm reaches simCap labelled.
func simulateTwoArm(tb testing.TB, runs int, seed uint64, accChampion, accChallenger float64, newRule func() lookFunc) simOutcome {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out := simOutcome{runs: runs, reasons: map[string]int{}}
	acc := [2]float64{accChampion, accChallenger}
	for range runs {
		look := newRule()
		var c [2]Confusion
		for c[0].Labelled() < simCap && c[1].Labelled() < simCap {
			arm := rng.IntN(2)
			pos := rng.Float64() < simPrevalence
			right := rng.Float64() < acc[arm]
			switch {
			case pos && right:
				c[arm].TP++
			case pos:
				c[arm].FN++
			case right:
				c[arm].TN++
			default:
				c[arm].FP++
			}
			in := Input{
				Champion:   Arm{Confusion: c[0], Served: int(float64(c[0].Labelled()) / simCoverage)},
				Challenger: Arm{Confusion: c[1], Served: int(float64(c[1].Labelled()) / simCoverage)},
			}
			a, why, err := look(in)
			if err != nil {
				tb.Fatal(err)
			}
			if a != KeepTesting {
				out.reasons[string(a)+": "+why]++
			}
			if a == Promote {
				out.promote++
				out.atDecision = append(out.atDecision, float64(c[0].Labelled()+c[1].Labelled())/2)
			}
			if a == Rollback {
				out.rollback++
			}
			if a != KeepTesting {
				break
			}
		}
	}
	return out
}

// simulatePaired runs shadow-mode experiments: both models score every
// labelled case. A shared latent difficulty u makes their errors correlated:
// the champion is right when u < accChampion, the challenger when u' <
// accChallenger, where u' = u with probability 0.5 and a fresh uniform
// otherwise (so each model keeps its own accuracy).
func simulatePaired(tb testing.TB, runs int, seed uint64, accChampion, accChallenger float64, cfg Config) simOutcome {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 0xd15c))
	out := simOutcome{runs: runs, reasons: map[string]int{}}
	for range runs {
		var st State
		var in PairedInput
		for in.Pairs() < simCap {
			u := rng.Float64()
			u2 := u
			if rng.IntN(2) == 0 {
				u2 = rng.Float64()
			}
			champ, chall := u < accChampion, u2 < accChallenger
			pc := &in.Negatives
			if rng.Float64() < simPrevalence {
				pc = &in.Positives
			}
			switch {
			case champ && chall:
				pc.BothCorrect++
			case champ:
				pc.OnlyChampion++
			case chall:
				pc.OnlyChallenger++
			default:
				pc.BothWrong++
			}
			in.Served = int(float64(in.Pairs()) / simCoverage)
			an, err := analyzePaired(cfg, st, in)
			if err != nil {
				tb.Fatal(err)
			}
			v := judge(cfg, st, an)
			st = v.state
			if v.action != KeepTesting {
				out.reasons[string(v.action)+": "+whyNames[v.why]]++
			}
			if v.action == Promote {
				out.promote++
				out.atDecision = append(out.atDecision, float64(in.Pairs()))
			}
			if v.action == Rollback {
				out.rollback++
			}
			if v.action != KeepTesting {
				break
			}
		}
	}
	return out
}

// threeSE is alpha plus three simulation standard errors.
func threeSE(alpha float64, runs int) float64 {
	return alpha + 3*math.Sqrt(alpha*(1-alpha)/float64(runs))
}

func TestSimulationAA(t *testing.T) {
	cfg := DefaultConfig()
	const runs = 1000
	o := simulateTwoArm(t, runs, 1, 0.85, 0.85, decideRule(cfg))
	limit := threeSE(cfg.Alpha, runs)
	t.Logf("A/A two-arm, 85%% vs 85%%, %d runs, look after every feedback, cap %d per arm: false PROMOTE %d, false ROLLBACK %d, rate %.4f (limit %.4f); by rule %v",
		runs, simCap, o.promote, o.rollback, o.falseRate(), limit, o.reasons)
	if o.falseRate() > limit {
		t.Errorf("A/A false decision rate %.4f exceeds alpha + 3 se = %.4f", o.falseRate(), limit)
	}
}

func TestSimulationPower(t *testing.T) {
	cfg := DefaultConfig()
	const runs = 500
	o := simulateTwoArm(t, runs, 2, 0.85, 0.92, decideRule(cfg))
	power := float64(o.promote) / runs
	fixed, err := stats.SampleSizeTwoProportions(0.85, 0.92, cfg.Alpha, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("85%% vs 92%%, %d runs: promoted %d (power %.3f), rolled back %d; labelled per arm at promotion: median %.0f, quartiles %.0f-%.0f, 80%% %.0f, 90%% %.0f; promoted by the fixed-sample n=%.0f (80%% power): %.3f",
		runs, o.promote, power, o.rollback, o.median(), o.quantile(0.25), o.quantile(0.75), o.quantile(0.8), o.quantile(0.9), math.Ceil(fixed), o.promotedBy(math.Ceil(fixed)))
	if power < 0.8 {
		t.Errorf("power %.3f below 0.8", power)
	}
	if o.rollback > 0 {
		t.Errorf("%d runs rolled back a better challenger", o.rollback)
	}
}

func TestSimulationSeedRuleAA(t *testing.T) {
	seed := DefaultSeedConfig()
	const runs = 1000
	o := simulateTwoArm(t, runs, 1, 0.85, 0.85, seedRule(seed))
	t.Logf("seed rule A/A, 85%% vs 85%%, %d runs, look after every feedback: false PROMOTE %d, rate %.4f (nominal alpha %.2f)",
		runs, o.promote, o.falseRate(), seed.Alpha)
	if o.falseRate() <= seed.Alpha {
		t.Errorf("seed rule A/A false PROMOTE rate %.4f is not above alpha; the simulation no longer shows the problem", o.falseRate())
	}
	// The same rule without its 5-point promotion threshold: how often the
	// chi-square test declares some winner under repeated looks.
	anyWinner := seed
	anyWinner.PromoteDifference = anyWinner.MinDifference
	o2 := simulateTwoArm(t, runs/2, 1, 0.85, 0.85, seedRule(anyWinner))
	t.Logf("seed rule A/A with promotion at any significant gain (>= 1 point): false PROMOTE rate %.4f", o2.falseRate())

	p := simulateTwoArm(t, 500, 2, 0.85, 0.92, seedRule(seed))
	t.Logf("seed rule 85%% vs 92%%: power %.3f, median labelled per arm at promotion %.0f", float64(p.promote)/500, p.median())
}

func TestSimulationPaired(t *testing.T) {
	cfg := DefaultConfig()
	const runs = 500
	o := simulatePaired(t, runs, 3, 0.85, 0.85, cfg)
	limit := threeSE(cfg.Alpha, runs)
	t.Logf("A/A shadow mode, 85%% vs 85%%, %d runs, cap %d pairs: false PROMOTE %d, false ROLLBACK %d, rate %.4f (limit %.4f); by rule %v",
		runs, simCap, o.promote, o.rollback, o.falseRate(), limit, o.reasons)
	if o.falseRate() > limit {
		t.Errorf("paired A/A false decision rate %.4f exceeds %.4f", o.falseRate(), limit)
	}
	const powerRuns = 200
	p := simulatePaired(t, powerRuns, 4, 0.85, 0.92, cfg)
	power := float64(p.promote) / powerRuns
	t.Logf("shadow mode 85%% vs 92%%, %d runs: power %.3f, median labelled pairs at promotion %.0f", powerRuns, power, p.median())
	if power < 0.8 {
		t.Errorf("paired power %.3f below 0.8", power)
	}
}

// The simulations call the core; Decide must take the same action.
func TestCoreMatchesDecide(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, m := range []Metric{Accuracy, Sensitivity, Specificity, BalancedAccuracy} {
		cfg := DefaultConfig()
		cfg.Metric = m
		core := decideRule(cfg)()
		var st State
		var in Input
		for i := 0; i < 1500; i++ {
			arm := &in.Champion
			acc := 0.8
			if rng.IntN(2) == 1 {
				arm, acc = &in.Challenger, 0.9
			}
			pos, right := rng.Float64() < 0.6, rng.Float64() < acc
			switch {
			case pos && right:
				arm.TP++
			case pos:
				arm.FN++
			case right:
				arm.TN++
			default:
				arm.FP++
			}
			arm.Served = arm.Labelled() * 3
			d, err := Decide(cfg, st, in)
			if err != nil {
				t.Fatal(err)
			}
			st = d.State
			a, _, err := core(in)
			if err != nil {
				t.Fatal(err)
			}
			if a != d.Action {
				t.Fatalf("%s look %d: core %s, Decide %s", m, i, a, d.Action)
			}
		}
	}
}
