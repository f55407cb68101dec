package proto

import (
	"fmt"
	"time"
)

// Drift signal names (DriftSignal.Name, DriftAlert.Signal).
const (
	// SignalInputPSI is the population stability index of the pooled input
	// histogram (InputStats.Histogram summed over the window) against the
	// reference's pooled histogram.
	SignalInputPSI = "input_psi"
	// SignalInputMeanKS is the two-sample Kolmogorov-Smirnov statistic of the
	// per-image tensor means in the window against the reference's.
	SignalInputMeanKS = "input_mean_ks"
	// SignalPositiveRate is the share of positive predictions in the window
	// against the reference's positive rate.
	SignalPositiveRate = "positive_rate"
)

// Drift levels of a signal or a report, from best to worst (insufficient
// and no_reference say that nothing could be judged).
const (
	DriftLevelOK           = "ok"
	DriftLevelWarn         = "warn"
	DriftLevelAlert        = "alert"
	DriftLevelInsufficient = "insufficient" // the window is below the minimum size
	DriftLevelNoReference  = "no_reference" // the model version carries no reference
)

// DriftSignal is one signal of a DriftReport.
type DriftSignal struct {
	Name  string  `json:"name"`  // SignalInputPSI, SignalInputMeanKS, SignalPositiveRate
	Level string  `json:"level"` // ok, warn, alert, insufficient
	Value float64 `json:"value"` // PSI; KS statistic D; the window's positive rate
	// Reference is the reference's value where the signal has one (the
	// training positive rate), else 0.
	Reference float64 `json:"reference"`
	// PValue of the KS test (asymptotic), or of the positive-rate z test.
	PValue *float64 `json:"p_value,omitempty"`
	// Warn and Alert are the thresholds the value was compared with (PSI:
	// the index; KS: the p-value, alert when below; positive rate: the
	// absolute difference from the reference allowed by the binomial bound
	// at this window size).
	Warn  float64 `json:"warn"`
	Alert float64 `json:"alert"`
	// N is the number of results the signal was computed on.
	N int `json:"n"`
}

// DriftReport is published by the drift monitor on
// MetricsDriftSubject(experiment) at every evaluation of one (experiment,
// arm, model version): the current value of every signal, whether or not
// it crossed a threshold, so that dashboards show them.
type DriftReport struct {
	SchemaVersion int    `json:"schema_version"`
	ReportID      string `json:"report_id"`
	Experiment    string `json:"experiment"`
	Arm           string `json:"arm"`
	ModelName     string `json:"served_model_name"`
	ModelVersion  string `json:"model_version"`
	// Level is the worst level of the signals, or no_reference /
	// insufficient for the whole report.
	Level string `json:"level"`
	// Window is the number of results in the sliding window (status ok),
	// InputWindow those of them that carried InputStats.
	Window      int `json:"window"`
	InputWindow int `json:"input_window"`
	// ReferenceImages is the number of training images the reference was
	// computed on (0 without a reference).
	ReferenceImages int           `json:"reference_images"`
	Signals         []DriftSignal `json:"signals"`
	// Results counts every result of this model version seen since the
	// monitor started (the window keeps only the latest).
	Results     int       `json:"results"`
	EvaluatedAt time.Time `json:"evaluated_at"`
}

func (e *DriftReport) Schema() string { return "drift.report" }
func (e *DriftReport) MsgID() string  { return "drift:" + e.ReportID }
func (e *DriftReport) ID() string     { return e.ReportID }
func (e *DriftReport) Check() error {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	if err := required("report_id", e.ReportID); err != nil {
		return err
	}
	if err := ValidToken(e.Experiment); err != nil {
		return fmt.Errorf("experiment %q: %v", e.Experiment, err)
	}
	if !ValidArm(e.Arm) {
		return fmt.Errorf("arm %q: must be %q or %q", e.Arm, ArmChampion, ArmChallenger)
	}
	if err := required("served_model_name", e.ModelName); err != nil {
		return err
	}
	return required("level", e.Level)
}

// Alert statuses.
const (
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// DriftAlert is published by the drift monitor on
// DriftAlertSubject(experiment) when a signal of one (experiment, arm,
// model version) crosses its alert threshold (status firing) and when it
// comes back below it (resolved): state changes only, not every evaluation.
type DriftAlert struct {
	SchemaVersion int     `json:"schema_version"`
	AlertID       string  `json:"alert_id"`
	Experiment    string  `json:"experiment"`
	Arm           string  `json:"arm"`
	ModelName     string  `json:"served_model_name"`
	ModelVersion  string  `json:"model_version"`
	Signal        string  `json:"signal"` // SignalInputPSI, ...
	Status        string  `json:"status"` // firing | resolved
	Value         float64 `json:"value"`
	Threshold     float64 `json:"threshold"` // DriftSignal.Alert at the evaluation
	Window        int     `json:"window"`
	Reason        string  `json:"reason"`
	// FiringSince is when the alert started firing (for resolved: how long
	// it fired).
	FiringSince time.Time `json:"firing_since"`
	At          time.Time `json:"at"`
}

func (e *DriftAlert) Schema() string { return "drift.alert" }
func (e *DriftAlert) MsgID() string  { return "drift-alert:" + e.AlertID }
func (e *DriftAlert) ID() string     { return e.AlertID }
func (e *DriftAlert) Check() error {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	if err := required("alert_id", e.AlertID); err != nil {
		return err
	}
	if err := ValidToken(e.Experiment); err != nil {
		return fmt.Errorf("experiment %q: %v", e.Experiment, err)
	}
	if !ValidArm(e.Arm) {
		return fmt.Errorf("arm %q: must be %q or %q", e.Arm, ArmChampion, ArmChallenger)
	}
	if err := required("signal", e.Signal); err != nil {
		return err
	}
	if e.Status != AlertFiring && e.Status != AlertResolved {
		return fmt.Errorf("status %q: must be %q or %q", e.Status, AlertFiring, AlertResolved)
	}
	return nil
}
