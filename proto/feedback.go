package proto

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Feedback types a radiologist can give about a served prediction, as in the
// seed's submit_feedback. Each maps to a ground truth independent of what the
// model said: true-positive and false-negative mean PNEUMONIA; false-positive and
// true-negative mean NORMAL.
const (
	FeedbackTruePositive  = "true-positive"
	FeedbackFalsePositive = "false-positive"
	FeedbackTrueNegative  = "true-negative"
	FeedbackFalseNegative = "false-negative"
)

// FeedbackTypes lists the accepted feedback types.
var FeedbackTypes = []string{FeedbackTruePositive, FeedbackFalsePositive, FeedbackTrueNegative, FeedbackFalseNegative}

// GroundTruthOf maps a feedback type to the ground-truth label.
func GroundTruthOf(feedbackType string) (string, error) {
	switch feedbackType {
	case FeedbackTruePositive, FeedbackFalseNegative:
		return LabelPneumonia, nil
	case FeedbackFalsePositive, FeedbackTrueNegative:
		return LabelNormal, nil
	}
	return "", fmt.Errorf("feedback_type %q: must be one of %s", feedbackType, strings.Join(FeedbackTypes, ", "))
}

// ImpliedPrediction is the label a feedback type says the model predicted
// (true-positive and false-positive: PNEUMONIA). The evaluator flags feedback
// whose implied prediction disagrees with the logged one.
func ImpliedPrediction(feedbackType string) string {
	switch feedbackType {
	case FeedbackTruePositive, FeedbackFalsePositive:
		return LabelPneumonia
	case FeedbackTrueNegative, FeedbackFalseNegative:
		return LabelNormal
	}
	return ""
}

// FeedbackSubmission is what a client sends (HTTP POST /v1/feedback body, or a
// message on SubjectFeedbackSubmit): either feedback_type or ground_truth.
type FeedbackSubmission struct {
	SchemaVersion int      `json:"schema_version,omitempty"`
	FeedbackID    string   `json:"feedback_id,omitempty"` // optional idempotency key; derived when empty
	RequestID     string   `json:"request_id"`
	FeedbackType  string   `json:"feedback_type,omitempty"`
	GroundTruth   string   `json:"ground_truth,omitempty"`
	RadiologistID string   `json:"radiologist_id,omitempty"`
	Confidence    *float64 `json:"confidence,omitempty"` // 0..1
	Notes         string   `json:"notes,omitempty"`
	Source        string   `json:"source,omitempty"` // "api", "nats", "review-ui", "simulator"
}

// MaxNotesBytes bounds the free-text notes of a feedback.
const MaxNotesBytes = 4096

// Normalize validates a submission and returns the ground truth it states.
// Errors name the field and the reason.
func (f *FeedbackSubmission) Normalize() (groundTruth string, err error) {
	f.RequestID = strings.TrimSpace(f.RequestID)
	if f.RequestID == "" {
		return "", fmt.Errorf("request_id: required")
	}
	if len(f.RequestID) > 200 {
		return "", fmt.Errorf("request_id: longer than 200 characters")
	}
	f.FeedbackType = strings.ToLower(strings.TrimSpace(f.FeedbackType))
	f.GroundTruth = strings.ToUpper(strings.TrimSpace(f.GroundTruth))
	switch {
	case f.FeedbackType == "" && f.GroundTruth == "":
		return "", fmt.Errorf("feedback_type: required unless ground_truth is given (one of %s; or ground_truth %s or %s)",
			strings.Join(FeedbackTypes, ", "), LabelNormal, LabelPneumonia)
	case f.FeedbackType != "":
		gt, err := GroundTruthOf(f.FeedbackType)
		if err != nil {
			return "", err
		}
		if f.GroundTruth != "" && f.GroundTruth != gt {
			return "", fmt.Errorf("ground_truth %q: contradicts feedback_type %q (which means %s)", f.GroundTruth, f.FeedbackType, gt)
		}
		groundTruth = gt
	default:
		if !ValidLabel(f.GroundTruth) {
			return "", fmt.Errorf("ground_truth %q: must be %s or %s", f.GroundTruth, LabelNormal, LabelPneumonia)
		}
		groundTruth = f.GroundTruth
	}
	if f.Confidence != nil {
		c := *f.Confidence
		if math.IsNaN(c) || c < 0 || c > 1 {
			return "", fmt.Errorf("confidence %v: must be between 0 and 1", c)
		}
	}
	if len(f.Notes) > MaxNotesBytes {
		return "", fmt.Errorf("notes: longer than %d bytes", MaxNotesBytes)
	}
	if len(f.RadiologistID) > 200 {
		return "", fmt.Errorf("radiologist_id: longer than 200 characters")
	}
	return groundTruth, nil
}

// FeedbackRecorded is a validated feedback, published on
// SubjectFeedbackRecorded. FeedbackID is the de-duplication key: the same
// submission delivered twice has the same id and counts once.
type FeedbackRecorded struct {
	SchemaVersion int       `json:"schema_version"`
	FeedbackID    string    `json:"feedback_id"`
	RequestID     string    `json:"request_id"`
	FeedbackType  string    `json:"feedback_type,omitempty"`
	GroundTruth   string    `json:"ground_truth"`
	RadiologistID string    `json:"radiologist_id,omitempty"`
	Confidence    *float64  `json:"confidence,omitempty"`
	Notes         string    `json:"notes,omitempty"`
	Source        string    `json:"source"`
	RecordedAt    time.Time `json:"recorded_at"`
}

func (e *FeedbackRecorded) Schema() string { return "feedback.recorded" }
func (e *FeedbackRecorded) MsgID() string  { return "feedback:" + e.FeedbackID }
func (e *FeedbackRecorded) ID() string     { return e.RequestID }
func (e *FeedbackRecorded) Check() error {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	if err := required("feedback_id", e.FeedbackID); err != nil {
		return err
	}
	if err := required("request_id", e.RequestID); err != nil {
		return err
	}
	if !ValidLabel(e.GroundTruth) {
		return fmt.Errorf("ground_truth %q: must be %s or %s", e.GroundTruth, LabelNormal, LabelPneumonia)
	}
	return nil
}

// FeedbackRejected records a feedback submission that failed validation.
type FeedbackRejected struct {
	SchemaVersion int       `json:"schema_version"`
	RequestID     string    `json:"request_id"`
	Reason        string    `json:"reason"`
	Body          string    `json:"body"` // the raw submission, truncated to 4 KiB
	RejectedAt    time.Time `json:"rejected_at"`
}

func (e *FeedbackRejected) Schema() string { return "feedback.rejected" }
func (e *FeedbackRejected) MsgID() string  { return "" }
func (e *FeedbackRejected) ID() string     { return e.RequestID }
func (e *FeedbackRejected) Check() error {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	return required("reason", e.Reason)
}

// Confusion is a binary confusion matrix with PNEUMONIA as the positive class.
type Confusion struct {
	TP int `json:"tp"`
	FP int `json:"fp"`
	TN int `json:"tn"`
	FN int `json:"fn"`
}

// N is the number of labelled cases.
func (c Confusion) N() int { return c.TP + c.FP + c.TN + c.FN }

// Add counts one case.
func (c *Confusion) Add(predicted, truth string, delta int) {
	switch {
	case predicted == LabelPneumonia && truth == LabelPneumonia:
		c.TP += delta
	case predicted == LabelPneumonia && truth == LabelNormal:
		c.FP += delta
	case predicted == LabelNormal && truth == LabelNormal:
		c.TN += delta
	case predicted == LabelNormal && truth == LabelPneumonia:
		c.FN += delta
	}
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Accuracy is (TP+TN)/N, 0 when N is 0.
func (c Confusion) Accuracy() float64 { return ratio(c.TP+c.TN, c.N()) }

// Sensitivity (recall) is TP/(TP+FN).
func (c Confusion) Sensitivity() float64 { return ratio(c.TP, c.TP+c.FN) }

// Specificity is TN/(TN+FP).
func (c Confusion) Specificity() float64 { return ratio(c.TN, c.TN+c.FP) }

// PPV (precision) is TP/(TP+FP).
func (c Confusion) PPV() float64 { return ratio(c.TP, c.TP+c.FP) }

// NPV is TN/(TN+FN).
func (c Confusion) NPV() float64 { return ratio(c.TN, c.TN+c.FN) }

// ModelMetrics are the live clinical metrics of one arm of an experiment.
type ModelMetrics struct {
	Arm               string    `json:"arm"`
	ModelName         string    `json:"served_model_name"`
	ModelVersion      string    `json:"model_version"`
	Predictions       int       `json:"predictions"` // results with status ok
	Errors            int       `json:"errors"`      // results with status error
	Served            int       `json:"served"`      // predictions returned to callers (not shadow)
	Feedback          int       `json:"feedback"`    // predictions joined with ground truth
	Coverage          float64   `json:"coverage"`    // feedback / predictions
	Confusion         Confusion `json:"confusion"`
	Accuracy          float64   `json:"accuracy"`
	Sensitivity       float64   `json:"sensitivity"`
	Specificity       float64   `json:"specificity"`
	PPV               float64   `json:"ppv"`
	NPV               float64   `json:"npv"`
	TrafficActual     float64   `json:"traffic_actual"`     // share of served predictions, 0..1
	TrafficConfigured float64   `json:"traffic_configured"` // configured weight, 0..1
	Inconsistent      int       `json:"inconsistent_feedback"`
	// Latency summarises the prediction latency (fetch + preprocess +
	// inference) of the arm's successful results; nil when none carried one.
	Latency *LatencySummary `json:"latency_ms,omitempty"`
}

// LatencySummary are percentiles of prediction latency in milliseconds,
// estimated from a fixed histogram (LatencyBuckets): each is the upper bound
// of the bucket holding the percentile, so within one bucket width (about
// 19%) above the true value.
type LatencySummary struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	N   int     `json:"n"`
}

// LatencyBuckets are the upper bounds (milliseconds) of the latency histogram
// the evaluator keeps per arm: 0.1 ms to about 60 s, 19% apart; a latency
// above the last bound falls in the last bucket.
var LatencyBuckets = func() []float64 {
	var b []float64
	for v := 0.1; v < 60_000; v *= 1.19 {
		b = append(b, math.Round(v*1000)/1000)
	}
	return b
}()

// LatencyBucket returns the index in LatencyBuckets of a latency, or -1 for
// a latency that is not positive (unknown).
func LatencyBucket(ms float64) int {
	if !(ms > 0) {
		return -1
	}
	i, _ := slices.BinarySearch(LatencyBuckets, ms)
	return min(i, len(LatencyBuckets)-1)
}

// DailyMetrics are the numbers of one model version's results completed on
// one UTC day (with the feedback on them, however late it came), whichever
// arm served it.
type DailyMetrics struct {
	Date         string    `json:"date"` // YYYY-MM-DD, UTC
	Arm          string    `json:"arm"`  // the arm the version was last seen in that day
	ModelName    string    `json:"served_model_name"`
	ModelVersion string    `json:"model_version"`
	Predictions  int       `json:"predictions"`
	Feedback     int       `json:"feedback"`
	Confusion    Confusion `json:"confusion"`
	Accuracy     float64   `json:"accuracy"`
}

// Fill computes the derived ratios from the counts.
func (m *ModelMetrics) Fill() {
	m.Coverage = ratio(m.Feedback, m.Predictions)
	m.Accuracy = m.Confusion.Accuracy()
	m.Sensitivity = m.Confusion.Sensitivity()
	m.Specificity = m.Confusion.Specificity()
	m.PPV = m.Confusion.PPV()
	m.NPV = m.Confusion.NPV()
}

// MetricsSnapshot is published on MetricsExperimentSubject: the numbers of the
// seed's model_performance_live view for one experiment.
type MetricsSnapshot struct {
	SchemaVersion   int            `json:"schema_version"`
	SnapshotID      string         `json:"snapshot_id"`
	Experiment      string         `json:"experiment"`
	Mode            string         `json:"mode"`
	Split           Split          `json:"configured_split"`
	Models          []ModelMetrics `json:"models"`
	PendingFeedback int            `json:"pending_feedback"` // feedback waiting for its prediction
	Adjudication    int            `json:"adjudication"`     // requests with conflicting feedback
	GeneratedAt     time.Time      `json:"generated_at"`
	// Epochs are the numbers of each experiment epoch (Experiment.Epoch) that
	// has results, sorted by epoch. Models above are cumulative over all
	// epochs; a rollout stage is judged on its own epoch only.
	Epochs []EpochMetrics `json:"epochs,omitempty"`
	// ByModel are the metrics of each model version that answered in the
	// experiment, whichever arm served it (after a promotion the champion
	// arm's numbers above mix the old and the new champion; these do not):
	// the version the champion arm serves now first. Arm is the arm the
	// version was last seen in; TrafficConfigured is 0 (not defined).
	ByModel []ModelMetrics `json:"by_model,omitempty"`
	// Daily are the per-day numbers of each model version, oldest first, for
	// the last MaxDailyMetrics days that have results.
	Daily []DailyMetrics `json:"daily,omitempty"`
}

// MaxDailyMetrics bounds MetricsSnapshot.Daily (days, each with both arms).
const MaxDailyMetrics = 31

// EpochMetrics are the numbers of one epoch of an experiment: every result
// routed in that epoch, with the feedback on it however late it came.
type EpochMetrics struct {
	Epoch int `json:"epoch"`
	// Models are the per-arm metrics of the epoch (champion, challenger).
	// TrafficActual is the arm's share of the epoch's served predictions;
	// TrafficConfigured, ModelName and ModelVersion are the latest seen in
	// the epoch's results.
	Models []ModelMetrics `json:"models"`
	// Paired counts the requests of the epoch that both arms answered (status
	// ok; in shadow mode) and that have a verdict, by which arm was correct:
	// the table of a paired (McNemar) test.
	Paired PairedCounts `json:"paired"`
	// PairedPositives and PairedNegatives split Paired by the verdict's
	// ground truth (PNEUMONIA, NORMAL), for paired tests of sensitivity and
	// specificity.
	PairedPositives PairedCounts `json:"paired_positives"`
	PairedNegatives PairedCounts `json:"paired_negatives"`
}

// PairedCounts are the outcomes of the champion and the challenger on the
// same requests.
type PairedCounts struct {
	BothCorrect    int `json:"both_correct"`
	OnlyChampion   int `json:"only_champion"`   // champion correct, challenger wrong
	OnlyChallenger int `json:"only_challenger"` // challenger correct, champion wrong
	BothWrong      int `json:"both_wrong"`
}

// Total is the number of pairs.
func (p PairedCounts) Total() int {
	return p.BothCorrect + p.OnlyChampion + p.OnlyChallenger + p.BothWrong
}

// Add counts one pair (delta 1) or removes one (delta -1), given whether each
// arm's label matched the ground truth.
func (p *PairedCounts) Add(championCorrect, challengerCorrect bool, delta int) {
	switch {
	case championCorrect && challengerCorrect:
		p.BothCorrect += delta
	case championCorrect:
		p.OnlyChampion += delta
	case challengerCorrect:
		p.OnlyChallenger += delta
	default:
		p.BothWrong += delta
	}
}

func (e *MetricsSnapshot) Schema() string { return "metrics.snapshot" }
func (e *MetricsSnapshot) MsgID() string  { return "metrics:" + e.SnapshotID }
func (e *MetricsSnapshot) ID() string     { return e.SnapshotID }
func (e *MetricsSnapshot) Check() error {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	if err := required("snapshot_id", e.SnapshotID); err != nil {
		return err
	}
	return required("experiment", e.Experiment)
}
