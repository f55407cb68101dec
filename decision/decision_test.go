package decision

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// arm builds an arm from sensitivity counts (tp of pos) and specificity
// counts (tn of neg).
func arm(tp, pos, tn, neg, served int) Arm {
	return Arm{Confusion: Confusion{TP: tp, FN: pos - tp, TN: tn, FP: neg - tn}, Served: served}
}

// checkFinite fails if any number in the decision is NaN or infinite, and
// checks that it encodes as JSON.
func checkFinite(t *testing.T, d Decision) {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("marshal decision: %v", err)
	}
	if strings.Contains(string(b), "NaN") || strings.Contains(string(b), "Inf") {
		t.Fatalf("decision has non-finite numbers: %s", b)
	}
	if d.PValue < 0 || d.PValue > 1 {
		t.Fatalf("p-value %v", d.PValue)
	}
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name       string
		cfg        func(*Config)
		in         Input
		action     Action
		reason     string // substring of the reason
		needsLabel int    // expected EstimatedSamplesNeeded, -1 = any positive
	}{
		{
			name:   "no feedback yet",
			in:     Input{},
			action: KeepTesting, reason: "no significant difference", needsLabel: -1,
		},
		{
			name:   "clearly better",
			in:     Input{Champion: arm(510, 600, 340, 400, 2000), Challenger: arm(570, 600, 380, 400, 2000)},
			action: Promote, reason: "significantly better on accuracy: +10.0 points",
		},
		{
			name:   "better but too few labels",
			in:     Input{Champion: arm(18, 36, 12, 24, 100), Challenger: arm(36, 36, 24, 24, 100)},
			action: KeepTesting, reason: "has 60 and 60 labelled per arm, 100 needed", needsLabel: 40,
		},
		{
			name:   "better but low coverage",
			in:     Input{Champion: arm(510, 600, 340, 400, 20000), Challenger: arm(570, 600, 380, 400, 20000)},
			action: KeepTesting, reason: "feedback covers 5% and 5% of served predictions, 10% needed", needsLabel: 1000,
		},
		{
			name:   "better on accuracy, sensitivity not shown non-inferior",
			in:     Input{Champion: arm(510, 600, 340, 400, 2000), Challenger: arm(510, 600, 396, 400, 2000)},
			action: KeepTesting, reason: "sensitivity non-inferiority is not shown yet", needsLabel: -1,
		},
		{
			name:   "clearly worse",
			in:     Input{Champion: arm(570, 600, 380, 400, 2000), Challenger: arm(510, 600, 340, 400, 2000)},
			action: Rollback, reason: "significantly worse on accuracy: -10.0 points",
		},
		{
			name:   "sensitivity guardrail violated",
			in:     Input{Champion: arm(570, 600, 320, 400, 2000), Challenger: arm(480, 600, 396, 400, 2000)},
			action: Rollback, reason: "misses more pneumonia than the margin allows",
		},
		{
			name:   "both arms 100% correct",
			in:     Input{Champion: arm(300, 300, 200, 200, 1000), Challenger: arm(300, 300, 200, 200, 1000)},
			action: KeepTesting, reason: "equivalent on accuracy within 1 point", needsLabel: 0,
		},
		{
			name:   "empty challenger arm",
			in:     Input{Champion: arm(300, 350, 200, 250, 1000)},
			action: KeepTesting, reason: "no significant difference", needsLabel: -1,
		},
		{
			name:   "no pneumonia cases",
			in:     Input{Champion: arm(0, 0, 340, 400, 1000), Challenger: arm(0, 0, 396, 400, 1000)},
			action: KeepTesting, reason: "sensitivity non-inferiority is not shown yet", needsLabel: -1,
		},
		{
			name:   "specificity as primary metric",
			cfg:    func(c *Config) { c.Metric = Specificity },
			in:     Input{Champion: arm(510, 600, 340, 400, 2000), Challenger: arm(540, 600, 390, 400, 2000)},
			action: Promote, reason: "significantly better on specificity",
		},
		{
			name:   "balanced accuracy as primary metric",
			cfg:    func(c *Config) { c.Metric = BalancedAccuracy },
			in:     Input{Champion: arm(510, 600, 340, 400, 2000), Challenger: arm(570, 600, 380, 400, 2000)},
			action: Promote, reason: "significantly better on balanced accuracy",
		},
		{
			name:   "sensitivity as primary metric, worse",
			cfg:    func(c *Config) { c.Metric = Sensitivity },
			in:     Input{Champion: arm(570, 600, 340, 400, 2000), Challenger: arm(520, 600, 390, 400, 2000)},
			action: Rollback, reason: "significantly worse on sensitivity",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			d, err := Decide(cfg, State{}, c.in)
			if err != nil {
				t.Fatal(err)
			}
			checkFinite(t, d)
			if d.Action != c.action || !strings.Contains(d.Reason, c.reason) {
				t.Fatalf("got %s: %s\nwant %s with %q", d.Action, d.Reason, c.action, c.reason)
			}
			switch {
			case c.action != KeepTesting && d.EstimatedSamplesNeeded != 0:
				t.Errorf("EstimatedSamplesNeeded = %d with %s", d.EstimatedSamplesNeeded, d.Action)
			case c.needsLabel > 0 && d.EstimatedSamplesNeeded != c.needsLabel:
				t.Errorf("EstimatedSamplesNeeded = %d, want %d", d.EstimatedSamplesNeeded, c.needsLabel)
			case c.needsLabel < 0 && d.EstimatedSamplesNeeded <= 0:
				t.Errorf("EstimatedSamplesNeeded = %d, want > 0", d.EstimatedSamplesNeeded)
			}
			if d.Metric != cfg.Metric || d.Test == "" || d.State.Test.Looks != 1 {
				t.Errorf("decision fields: metric %s, test %q, looks %d", d.Metric, d.Test, d.State.Test.Looks)
			}
			t.Logf("%s: %s [%s]", d.Action, d.Reason, d.Test)
		})
	}
}

func TestDecidePaired(t *testing.T) {
	cases := []struct {
		name   string
		cfg    func(*Config)
		in     PairedInput
		action Action
		reason string
	}{
		{"no pairs", nil, PairedInput{}, KeepTesting, "no significant difference"},
		{
			"challenger wins most disagreements", nil,
			PairedInput{
				Positives: PairedCounts{BothCorrect: 500, OnlyChampion: 10, OnlyChallenger: 60, BothWrong: 30},
				Negatives: PairedCounts{BothCorrect: 330, OnlyChampion: 10, OnlyChallenger: 40, BothWrong: 20},
				Served:    1500,
			},
			Promote, "significantly better on accuracy",
		},
		{
			"champion wins most disagreements", nil,
			PairedInput{
				Positives: PairedCounts{BothCorrect: 500, OnlyChampion: 60, OnlyChallenger: 10, BothWrong: 30},
				Negatives: PairedCounts{BothCorrect: 330, OnlyChampion: 40, OnlyChallenger: 10, BothWrong: 20},
				Served:    1500,
			},
			Rollback, "significantly worse on accuracy",
		},
		{
			"models always agree", nil,
			PairedInput{Positives: PairedCounts{BothCorrect: 500, BothWrong: 30}, Negatives: PairedCounts{BothCorrect: 400}, Served: 1000},
			KeepTesting, "equivalent on accuracy within 1 point",
		},
		{
			"balanced accuracy", func(c *Config) { c.Metric = BalancedAccuracy },
			PairedInput{
				Positives: PairedCounts{BothCorrect: 500, OnlyChampion: 10, OnlyChallenger: 60, BothWrong: 30},
				Negatives: PairedCounts{BothCorrect: 330, OnlyChampion: 10, OnlyChallenger: 40, BothWrong: 20},
				Served:    1500,
			},
			Promote, "significantly better on balanced accuracy",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			d, err := DecidePaired(cfg, State{}, c.in)
			if err != nil {
				t.Fatal(err)
			}
			checkFinite(t, d)
			if d.Action != c.action || !strings.Contains(d.Reason, c.reason) {
				t.Fatalf("got %s: %s\nwant %s with %q", d.Action, d.Reason, c.action, c.reason)
			}
			if d.Champion.Labelled != c.in.Pairs() || d.Challenger.Labelled != c.in.Pairs() {
				t.Errorf("labelled %d, %d; want %d", d.Champion.Labelled, d.Challenger.Labelled, c.in.Pairs())
			}
			t.Logf("%s: %s [%s]", d.Action, d.Reason, d.Test)
		})
	}
}

func TestPairedArmsFromPairs(t *testing.T) {
	in := PairedInput{
		Positives: PairedCounts{BothCorrect: 5, OnlyChampion: 2, OnlyChallenger: 3, BothWrong: 1},
		Negatives: PairedCounts{BothCorrect: 7, OnlyChampion: 4, OnlyChallenger: 1, BothWrong: 2},
	}
	a, b := in.arms()
	if a.Confusion != (Confusion{TP: 7, FN: 4, TN: 11, FP: 3}) || b.Confusion != (Confusion{TP: 8, FN: 3, TN: 8, FP: 6}) {
		t.Errorf("champion %+v, challenger %+v", a.Confusion, b.Confusion)
	}
}

// The always-valid p-value never increases and the interval never widens
// from one look to the next, even when the data drift back toward no
// difference; a promotion stays a promotion.
func TestStateCarriesEvidence(t *testing.T) {
	cfg := DefaultConfig()
	var st State
	prevP := 1.0
	promoted := false
	in := Input{}
	for i := 0; i < 40; i++ {
		// 25 labels per arm per step: the challenger is far better for 20
		// steps, then both arms are equal.
		add := func(a *Arm, tp, tn int) {
			a.TP += tp
			a.FN += 15 - tp
			a.TN += tn
			a.FP += 10 - tn
			a.Served = 2 * a.Labelled()
		}
		if i < 20 {
			add(&in.Champion, 12, 8)
			add(&in.Challenger, 15, 10)
		} else {
			add(&in.Champion, 12, 8)
			add(&in.Challenger, 12, 8)
		}
		d, err := Decide(cfg, st, in)
		if err != nil {
			t.Fatal(err)
		}
		if d.PValue > prevP {
			t.Fatalf("look %d: p rose from %v to %v", i, prevP, d.PValue)
		}
		if d.State.Difference.Lower < st.Difference.Lower && st.Difference.Looks > 0 {
			t.Fatalf("look %d: lower bound fell", i)
		}
		if promoted && d.Action != Promote {
			t.Fatalf("look %d: promotion withdrawn: %s", i, d.Reason)
		}
		promoted = promoted || d.Action == Promote
		prevP, st = d.PValue, d.State
	}
	if !promoted {
		t.Fatal("never promoted")
	}
	if st.Test.Looks != 40 {
		t.Errorf("looks = %d", st.Test.Looks)
	}
}

func TestStateMismatch(t *testing.T) {
	cfg := DefaultConfig()
	in := Input{Champion: arm(51, 60, 30, 40, 200), Challenger: arm(52, 60, 35, 40, 200)}
	d, err := Decide(cfg, State{}, in)
	if err != nil {
		t.Fatal(err)
	}
	other := cfg
	other.Metric = Sensitivity
	if _, err := Decide(other, d.State, in); !errors.Is(err, ErrStateMismatch) {
		t.Errorf("other metric: err = %v", err)
	}
	fewer := Input{Champion: arm(50, 59, 30, 40, 200), Challenger: in.Challenger}
	if _, err := Decide(cfg, d.State, fewer); !errors.Is(err, ErrStateMismatch) {
		t.Errorf("counts went down: err = %v", err)
	}
	if _, err := DecidePaired(cfg, d.State, PairedInput{Positives: PairedCounts{BothCorrect: 500}}); !errors.Is(err, ErrStateMismatch) {
		t.Errorf("two-arm state in paired mode: err = %v", err)
	}
}

func TestInvalid(t *testing.T) {
	bad := []struct {
		field string
		edit  func(*Config)
	}{
		{"alpha", func(c *Config) { c.Alpha = 0 }},
		{"metric", func(c *Config) { c.Metric = "f1" }},
		{"sensitivity_margin", func(c *Config) { c.SensitivityMargin = -0.1 }},
		{"min_labelled_per_arm", func(c *Config) { c.MinLabelledPerArm = -1 }},
		{"min_coverage", func(c *Config) { c.MinCoverage = 2 }},
		{"tau", func(c *Config) { c.Tau = 0 }},
		{"discordant_prior_sd", func(c *Config) { c.DiscordantPriorSD = 1 }},
		{"min_difference", func(c *Config) { c.MinDifference = 0 }},
	}
	for _, b := range bad {
		cfg := DefaultConfig()
		b.edit(&cfg)
		_, err := Decide(cfg, State{}, Input{})
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), b.field) {
			t.Errorf("%s: err = %v", b.field, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	_, err := Decide(DefaultConfig(), State{}, Input{Challenger: Arm{Confusion: Confusion{FP: -3}}})
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "challenger fp -3") {
		t.Errorf("negative count: err = %v", err)
	}
	_, err = DecidePaired(DefaultConfig(), State{}, PairedInput{Negatives: PairedCounts{OnlyChampion: -1}})
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "negatives only_champion -1") {
		t.Errorf("negative pair count: err = %v", err)
	}
}

func TestSeedRule(t *testing.T) {
	cfg := DefaultSeedConfig()
	cases := []struct {
		name   string
		in     Input
		action Action
		reason string
	}{
		{"too few", Input{Champion: arm(20, 30, 10, 19, 0), Challenger: arm(30, 30, 20, 20, 0)}, KeepTesting, "insufficient data: 49 and 50"},
		{"promote", Input{Champion: arm(510, 600, 340, 400, 0), Challenger: arm(570, 600, 380, 400, 0)}, Promote, "by at least 5 points"},
		{"better but below 5 points", Input{Champion: arm(510, 600, 340, 400, 0), Challenger: arm(540, 600, 350, 400, 0)}, KeepTesting, "below the 5-point promotion threshold"},
		{"worse, never rolls back", Input{Champion: arm(570, 600, 380, 400, 0), Challenger: arm(510, 600, 340, 400, 0)}, KeepTesting, "never rolls back"},
		{"no difference", Input{Champion: arm(510, 600, 340, 400, 0), Challenger: arm(512, 600, 341, 400, 0)}, KeepTesting, "no significant accuracy difference"},
		{"both 100%", Input{Champion: arm(60, 60, 40, 40, 0), Challenger: arm(60, 60, 40, 40, 0)}, KeepTesting, "no significant accuracy difference"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := SeedRule(cfg, c.in)
			if err != nil {
				t.Fatal(err)
			}
			checkFinite(t, d)
			if d.Action != c.action || !strings.Contains(d.Reason, c.reason) {
				t.Fatalf("got %s: %s\nwant %s with %q", d.Action, d.Reason, c.action, c.reason)
			}
		})
	}
	// 850/1000 vs 950/1000: scipy.stats.chi2_contingency gives 54.45 (Yates).
	d, _ := SeedRule(cfg, Input{Champion: arm(510, 600, 340, 400, 0), Challenger: arm(570, 600, 380, 400, 0)})
	if math.Abs(d.Statistic-54.45) > 1e-9 || math.Abs(d.PValue-1.5945369908213813e-13) > 1e-9*1.6e-13 {
		t.Errorf("chi-square %v, p %v", d.Statistic, d.PValue)
	}
}
