package proto

import (
	"encoding/json"
	"fmt"
	"time"
)

// Decision actions (the decision engine's vocabulary).
const (
	ActionPromote     = "PROMOTE"
	ActionKeepTesting = "KEEP_TESTING"
	ActionRollback    = "ROLLBACK"
)

// Decision outcomes: what happened to a decision.
const (
	// OutcomeNone: KEEP_TESTING, nothing to do.
	OutcomeNone = "none"
	// OutcomeRecommended: approval mode, waiting for a person.
	OutcomeRecommended = "recommended"
	// OutcomeExecuted: the controller moved the split (automatic mode, or any
	// rollback).
	OutcomeExecuted = "executed"
	// OutcomeApproved: a person approved the recommendation; the split moved.
	OutcomeApproved = "approved"
	// OutcomeRejected: a person rejected the recommendation; testing goes on.
	OutcomeRejected = "rejected"
)

// Rollout modes.
const (
	// RolloutAutomatic moves the split as soon as the engine decides.
	RolloutAutomatic = "automatic"
	// RolloutApproval has the engine recommend and a person approve or
	// reject (the default for clinical use). Rollbacks are executed at once in
	// both modes: they protect patients.
	RolloutApproval = "approval"
)

// Interval is an estimate with its confidence interval.
type Interval struct {
	Value float64 `json:"value"`
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// DecisionEvent is published on DecisionSubject(experiment) for every
// decision of the rollout controller and every approval or rejection: the
// audit log (who or what, when, why, and the numbers). The DECISIONS stream
// keeps them; the table writer copies them to gold.experiment_decisions.
type DecisionEvent struct {
	SchemaVersion   int             `json:"schema_version"`
	DecisionID      string          `json:"decision_id"` // unique; also the message id
	Experiment      string          `json:"experiment"`
	Epoch           int             `json:"epoch"` // the experiment epoch whose data was tested
	Action          string          `json:"action"`
	Outcome         string          `json:"outcome"`
	RolloutMode     string          `json:"rollout_mode"`
	Actor           string          `json:"actor"` // "rollout-controller" or the person who approved/rejected
	Reason          string          `json:"reason"`
	StageBefore     int             `json:"stage_before"`
	StageAfter      int             `json:"stage_after"`
	SplitBefore     Split           `json:"split_before"`
	SplitAfter      Split           `json:"split_after"`
	Test            string          `json:"test"`
	Metric          string          `json:"metric"`
	Statistic       float64         `json:"statistic"`
	PValue          float64         `json:"p_value"` // always-valid p-value
	Difference      Interval        `json:"difference"`
	SensitivityDiff Interval        `json:"sensitivity_difference"`
	ChampionN       int             `json:"champion_labelled"`
	ChallengerN     int             `json:"challenger_labelled"`
	SamplesNeeded   int             `json:"estimated_samples_needed,omitempty"`
	Champion        string          `json:"champion_model"`    // name@version
	Challenger      string          `json:"challenger_model"`  // name@version
	Details         json.RawMessage `json:"details,omitempty"` // the engine's full decision
	DecidedAt       time.Time       `json:"decided_at"`
}

func (e *DecisionEvent) Schema() string { return "decision" }
func (e *DecisionEvent) MsgID() string  { return "decision:" + e.DecisionID }
func (e *DecisionEvent) ID() string     { return e.DecisionID }
func (e *DecisionEvent) Check() error {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	if err := required("decision_id", e.DecisionID); err != nil {
		return err
	}
	if err := required("experiment", e.Experiment); err != nil {
		return err
	}
	switch e.Action {
	case ActionPromote, ActionKeepTesting, ActionRollback:
	default:
		return fmt.Errorf("action %q: must be PROMOTE, KEEP_TESTING or ROLLBACK", e.Action)
	}
	return required("actor", e.Actor)
}

// ExperimentDecisionRow is a row of gold.experiment_decisions: one per
// DecisionEvent. Partition date: decided_at.
type ExperimentDecisionRow struct {
	DecisionID         string    `parquet:"decision_id,zstd"`
	Experiment         string    `parquet:"experiment,zstd"`
	Epoch              int64     `parquet:"epoch,zstd"`
	Action             string    `parquet:"action,zstd"`
	Outcome            string    `parquet:"outcome,zstd"`
	RolloutMode        string    `parquet:"rollout_mode,zstd"`
	Actor              string    `parquet:"actor,zstd"`
	Reason             string    `parquet:"reason,zstd"`
	StageBefore        int32     `parquet:"stage_before,zstd"`
	StageAfter         int32     `parquet:"stage_after,zstd"`
	SplitBefore        string    `parquet:"split_before,zstd"` // "50/50" champion/challenger
	SplitAfter         string    `parquet:"split_after,zstd"`
	Test               string    `parquet:"test,zstd"`
	Metric             string    `parquet:"metric,zstd"`
	Statistic          float64   `parquet:"statistic,zstd"`
	PValue             float64   `parquet:"p_value,zstd"`
	Difference         float64   `parquet:"difference,zstd"`
	DifferenceLower    float64   `parquet:"difference_lower,zstd"`
	DifferenceUpper    float64   `parquet:"difference_upper,zstd"`
	SensitivityDiff    float64   `parquet:"sensitivity_difference,zstd"`
	SensitivityLower   float64   `parquet:"sensitivity_difference_lower,zstd"`
	SensitivityUpper   float64   `parquet:"sensitivity_difference_upper,zstd"`
	ChampionLabelled   int64     `parquet:"champion_labelled,zstd"`
	ChallengerLabelled int64     `parquet:"challenger_labelled,zstd"`
	SamplesNeeded      int64     `parquet:"estimated_samples_needed,zstd"`
	ChampionModel      string    `parquet:"champion_model,zstd"`
	ChallengerModel    string    `parquet:"challenger_model,zstd"`
	Details            string    `parquet:"details,zstd"` // JSON
	DecidedAt          time.Time `parquet:"decided_at,timestamp(millisecond:utc),zstd"`
}
