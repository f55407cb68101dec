package driftstat

import (
	"errors"
	"fmt"
	"math"

	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/stats"
)

// Config holds the window size and the thresholds of the evaluation rule.
type Config struct {
	// Window is the number of latest results kept per (experiment, arm,
	// model version) (default 500).
	Window int
	// MinWindow is the number of results (for the input signals: results
	// with input statistics) a signal needs before it is judged; below it
	// the signal is "insufficient" and never alerts (default 100).
	MinWindow int
	// PSIWarn and PSIAlert: input_psi levels (default 0.1 and 0.2).
	PSIWarn  float64
	PSIAlert float64
	// KSWarnP and KSAlertP: input_mean_ks warns when its p-value is below
	// KSWarnP and alerts below KSAlertP (default 0.01 and 0.001).
	KSWarnP  float64
	KSAlertP float64
	// RateWarnAlpha and RateAlertAlpha: the two-sided levels of the binomial
	// bound on the positive rate (default 0.01 and 0.001): the bound is
	// z(1-alpha/2) * sqrt(p0 (1-p0) / n) around the reference rate p0.
	RateWarnAlpha  float64
	RateAlertAlpha float64
	// MinRateDifference is the smallest absolute difference of positive
	// rates that can warn or alert, whatever the window size (default 0.05).
	MinRateDifference float64
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Window: 500, MinWindow: 100,
		PSIWarn: 0.1, PSIAlert: 0.2,
		KSWarnP: 0.01, KSAlertP: 0.001,
		RateWarnAlpha: 0.01, RateAlertAlpha: 0.001, MinRateDifference: 0.05,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Window < 1 || c.Window > 1_000_000 {
		errs = append(errs, fmt.Errorf("drift: window %d: must be between 1 and 1000000", c.Window))
	}
	if c.MinWindow < 1 || c.MinWindow > c.Window {
		errs = append(errs, fmt.Errorf("drift: min_window %d: must be between 1 and the window (%d)", c.MinWindow, c.Window))
	}
	if !(c.PSIWarn > 0 && c.PSIWarn <= c.PSIAlert) || math.IsInf(c.PSIAlert, 0) {
		errs = append(errs, fmt.Errorf("drift: psi warn %v and alert %v: want 0 < warn <= alert, finite", c.PSIWarn, c.PSIAlert))
	}
	if !(c.KSAlertP > 0 && c.KSAlertP <= c.KSWarnP && c.KSWarnP < 1) {
		errs = append(errs, fmt.Errorf("drift: ks p warn %v and alert %v: want 0 < alert <= warn < 1", c.KSWarnP, c.KSAlertP))
	}
	if !(c.RateAlertAlpha > 0 && c.RateAlertAlpha <= c.RateWarnAlpha && c.RateWarnAlpha < 1) {
		errs = append(errs, fmt.Errorf("drift: positive rate alpha warn %v and alert %v: want 0 < alert <= warn < 1", c.RateWarnAlpha, c.RateAlertAlpha))
	}
	if !(c.MinRateDifference >= 0 && c.MinRateDifference < 1) {
		errs = append(errs, fmt.Errorf("drift: min_rate_difference %v: must be in [0, 1)", c.MinRateDifference))
	}
	return errors.Join(errs...)
}

// Evaluation is the outcome of Evaluate.
type Evaluation struct {
	// Level is the worst level of the signals (ok < warn < alert);
	// insufficient when no signal could be judged; no_reference without a
	// reference.
	Level   string
	Signals []proto.DriftSignal
}

// Alerting returns the signals at level alert.
func (e Evaluation) Alerting() map[string]proto.DriftSignal {
	out := map[string]proto.DriftSignal{}
	for _, s := range e.Signals {
		if s.Level == proto.DriftLevelAlert {
			out[s.Name] = s
		}
	}
	return out
}

// Evaluate compares the window with the reference under the rule of c (see
// the package doc). A nil reference gives level no_reference and no
// signals.
func Evaluate(c Config, ref *Reference, w *Window) Evaluation {
	if ref == nil {
		return Evaluation{Level: proto.DriftLevelNoReference}
	}
	sigs := []proto.DriftSignal{psiSignal(c, ref, w), ksSignal(c, ref, w), rateSignal(c, ref, w)}
	level := proto.DriftLevelInsufficient
	rank := map[string]int{proto.DriftLevelInsufficient: 0, proto.DriftLevelOK: 1, proto.DriftLevelWarn: 2, proto.DriftLevelAlert: 3}
	for _, s := range sigs {
		if rank[s.Level] > rank[level] {
			level = s.Level
		}
	}
	return Evaluation{Level: level, Signals: sigs}
}

func psiSignal(c Config, ref *Reference, w *Window) proto.DriftSignal {
	s := proto.DriftSignal{Name: proto.SignalInputPSI, Warn: c.PSIWarn, Alert: c.PSIAlert, N: w.Inputs(),
		Level: proto.DriftLevelInsufficient}
	if w.Inputs() < c.MinWindow {
		return s
	}
	psi, err := PSI(ref.Histogram, w.Pooled())
	if err != nil {
		return s
	}
	s.Value = psi
	s.Level = level(psi > c.PSIAlert, psi > c.PSIWarn)
	return s
}

func ksSignal(c Config, ref *Reference, w *Window) proto.DriftSignal {
	s := proto.DriftSignal{Name: proto.SignalInputMeanKS, Warn: c.KSWarnP, Alert: c.KSAlertP, N: w.Inputs(),
		Level: proto.DriftLevelInsufficient}
	if w.Inputs() < c.MinWindow {
		return s
	}
	ks, err := KSTwoSample(ref.Means, w.Means())
	if err != nil {
		return s
	}
	p := ks.PValue
	s.Value, s.PValue = ks.D, &p
	s.Level = level(p < c.KSAlertP, p < c.KSWarnP)
	return s
}

func rateSignal(c Config, ref *Reference, w *Window) proto.DriftSignal {
	p0 := ref.PositiveRateAt(w.Threshold())
	n := w.Len()
	s := proto.DriftSignal{Name: proto.SignalPositiveRate, Reference: p0, N: n, Level: proto.DriftLevelInsufficient}
	// The binomial bounds, with the variance of p0 kept away from 0 so that
	// a reference rate of 0 or 1 still gives a bound.
	sd := math.Sqrt(max(p0*(1-p0), 1/float64(4*len(ref.Probabilities))) / float64(max(n, 1)))
	s.Warn = max(c.MinRateDifference, stats.NormalQuantile(1-c.RateWarnAlpha/2)*sd)
	s.Alert = max(c.MinRateDifference, stats.NormalQuantile(1-c.RateAlertAlpha/2)*sd)
	if n < c.MinWindow {
		return s
	}
	rate := float64(w.Positives()) / float64(n)
	diff := math.Abs(rate - p0)
	pv := 2 * stats.NormalSF(diff/sd)
	s.Value, s.PValue = rate, &pv
	s.Level = level(diff > s.Alert, diff > s.Warn)
	return s
}

func level(alert, warn bool) string {
	switch {
	case alert:
		return proto.DriftLevelAlert
	case warn:
		return proto.DriftLevelWarn
	}
	return proto.DriftLevelOK
}
