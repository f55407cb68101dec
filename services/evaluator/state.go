package evaluator

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/healthcare-ai/platform/proto"
)

// RequestState is the join state of one request, stored as JSON in
// proto.BucketEvaluatorState under StateKey(RequestID).
type RequestState struct {
	RequestID string `json:"request_id"`
	// Results by arm.
	Results map[string]ArmResult `json:"results,omitempty"`
	// Feedback by feedback_id.
	Feedback map[string]FeedbackEntry `json:"feedback,omitempty"`
	// Verdict is derived from Feedback under the policy in force when the
	// state was written; readers re-derive it (see Judge).
	Verdict   Verdict   `json:"verdict"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ArmResult is what the evaluator keeps of one proto.InferenceResult.
type ArmResult struct {
	Experiment      string      `json:"experiment"`
	ModelName       string      `json:"served_model_name"`
	ModelVersion    string      `json:"model_version"`
	Status          string      `json:"status"`
	StatusCode      int         `json:"status_code,omitempty"`
	Label           string      `json:"label,omitempty"`
	Probability     float64     `json:"probability"`
	Served          bool        `json:"served"`
	ConfiguredSplit proto.Split `json:"configured_split"`
	RoutedAt        time.Time   `json:"routed_at"`
	CompletedAt     time.Time   `json:"completed_at"`
	// Epoch is the experiment epoch the request was routed in (0 in states
	// and results from before epochs existed).
	Epoch int `json:"epoch"`
	// LatencyMS is the prediction latency (fetch + preprocess + inference).
	LatencyMS float64 `json:"latency_ms,omitempty"`
	// ImageKey and ImageFormat locate the de-identified bronze image (for
	// the review page); empty in states from before they were kept.
	ImageKey    string `json:"image_key,omitempty"`
	ImageFormat string `json:"image_format,omitempty"`
}

// FeedbackEntry is what the evaluator keeps of one proto.FeedbackRecorded
// (the notes stay in the stream).
type FeedbackEntry struct {
	FeedbackType  string    `json:"feedback_type,omitempty"`
	GroundTruth   string    `json:"ground_truth"`
	RadiologistID string    `json:"radiologist_id,omitempty"`
	Source        string    `json:"source,omitempty"`
	RecordedAt    time.Time `json:"recorded_at"`
}

// Verdict is the ground truth a request's feedback establishes.
type Verdict struct {
	// GroundTruth is the effective ground truth; empty without feedback or
	// while the request awaits adjudication.
	GroundTruth string `json:"ground_truth,omitempty"`
	// FeedbackID is the feedback that decided it.
	FeedbackID string `json:"feedback_id,omitempty"`
	// Conflicting is true when the feedback states different ground truths.
	Conflicting bool `json:"conflicting,omitempty"`
	// NeedsAdjudication is true when PolicyAdjudicate excludes the request.
	NeedsAdjudication bool   `json:"needs_adjudication,omitempty"`
	Policy            Policy `json:"policy,omitempty"`
}

// StateKey is the KV key of a request: "r.<request_id>" when the id is a valid
// token (letters, digits, '-', '_'), otherwise "h.<hex sha256 of the id>".
func StateKey(requestID string) string {
	if proto.ValidToken(requestID) == nil {
		return "r." + requestID
	}
	sum := sha256.Sum256([]byte(requestID))
	return "h." + hex.EncodeToString(sum[:])
}

func newState(requestID string) *RequestState {
	return &RequestState{RequestID: requestID, Results: map[string]ArmResult{}, Feedback: map[string]FeedbackEntry{}}
}

func (st *RequestState) clone() *RequestState {
	c := *st
	c.Results = maps.Clone(st.Results)
	c.Feedback = maps.Clone(st.Feedback)
	if c.Results == nil {
		c.Results = map[string]ArmResult{}
	}
	if c.Feedback == nil {
		c.Feedback = map[string]FeedbackEntry{}
	}
	return &c
}

func decodeState(key string, data []byte) (*RequestState, error) {
	st := newState("")
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("decode state %s: %w", key, err)
	}
	if st.RequestID == "" {
		return nil, fmt.Errorf("decode state %s: request_id missing", key)
	}
	for arm := range st.Results {
		if !proto.ValidArm(arm) {
			return nil, fmt.Errorf("decode state %s: arm %q unknown", key, arm)
		}
	}
	return st, nil
}

func resultOf(r *proto.InferenceResult) ArmResult {
	return ArmResult{
		Experiment:      r.Experiment,
		ModelName:       r.ModelName,
		ModelVersion:    r.ModelVersion,
		Status:          r.Status,
		StatusCode:      r.StatusCode,
		Label:           r.Label,
		Probability:     r.Probability,
		Served:          r.Served,
		ConfiguredSplit: r.ConfiguredSplit,
		RoutedAt:        r.RoutedAt.UTC(),
		CompletedAt:     r.CompletedAt.UTC(),
		Epoch:           r.Epoch,
		LatencyMS:       r.LatencyMS,
		ImageKey:        r.Image.Key,
		ImageFormat:     r.Image.Format,
	}
}

// order is a total order on results of one arm: later completion wins, then
// a content comparison, so the kept result does not depend on arrival order.
func (a ArmResult) order(b ArmResult) int {
	if c := a.CompletedAt.Compare(b.CompletedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.contentKey(), b.contentKey())
}

func (a ArmResult) contentKey() string {
	return a.Experiment + "\x00" + a.Status + "\x00" + a.Label + "\x00" + a.ModelName + "\x00" + a.ModelVersion + "\x00" +
		strconv.FormatFloat(a.Probability, 'g', -1, 64) + "\x00" + strconv.FormatBool(a.Served) + "\x00" +
		a.ConfiguredSplit.String() + "\x00" + strconv.Itoa(a.StatusCode) + "\x00" + a.RoutedAt.Format(time.RFC3339Nano) + "\x00" +
		strconv.Itoa(a.Epoch)
}

// mergeResult folds a result into st and reports whether st changed.
func mergeResult(st *RequestState, r *proto.InferenceResult) bool {
	nr := resultOf(r)
	if old, ok := st.Results[r.Arm]; ok && nr.order(old) <= 0 {
		return false // the same result again, or an older one
	}
	st.Results[r.Arm] = nr
	return true
}

// errTooMuchFeedback is returned (as permanent) when a request has
// Config.MaxFeedbackPerRequest distinct feedback already.
type errTooMuchFeedback struct{ n int }

func (e errTooMuchFeedback) Error() string {
	return fmt.Sprintf("feedback: request already has %d distinct feedback (the limit)", e.n)
}

// mergeFeedback folds a feedback into st and reports whether st changed. A
// feedback_id counts once: when it was recorded more than once (a retry after
// the stream's duplicate window), the earliest recording is kept, whatever the
// order of arrival.
func mergeFeedback(st *RequestState, f *proto.FeedbackRecorded, limit int) (bool, error) {
	nf := FeedbackEntry{
		FeedbackType:  f.FeedbackType,
		GroundTruth:   f.GroundTruth,
		RadiologistID: f.RadiologistID,
		Source:        f.Source,
		RecordedAt:    f.RecordedAt.UTC(),
	}
	if old, ok := st.Feedback[f.FeedbackID]; ok {
		if c := nf.RecordedAt.Compare(old.RecordedAt); c > 0 || (c == 0 && nf.contentKey() >= old.contentKey()) {
			return false, nil
		}
	} else if len(st.Feedback) >= limit {
		return false, errTooMuchFeedback{len(st.Feedback)}
	}
	st.Feedback[f.FeedbackID] = nf
	return true, nil
}

func (f FeedbackEntry) contentKey() string {
	return f.FeedbackType + "\x00" + f.GroundTruth + "\x00" + f.RadiologistID + "\x00" + f.Source
}

// later reports whether feedback (id a, entry ea) was recorded after (b, eb);
// ties are broken by the feedback_id so that the choice is deterministic.
func later(a string, ea FeedbackEntry, b string, eb FeedbackEntry) bool {
	if c := ea.RecordedAt.Compare(eb.RecordedAt); c != 0 {
		return c > 0
	}
	return a > b
}

// Judge derives the verdict of a state's feedback under policy.
func Judge(st *RequestState, policy Policy) Verdict {
	v := Verdict{Policy: policy}
	if st == nil || len(st.Feedback) == 0 {
		return v
	}
	var latestID, adjID string
	var latest, adj FeedbackEntry
	truths := map[string]bool{}
	for id, f := range st.Feedback {
		if f.Source == SourceAdjudication {
			if adjID == "" || later(id, f, adjID, adj) {
				adjID, adj = id, f
			}
			continue
		}
		truths[f.GroundTruth] = true
		if latestID == "" || later(id, f, latestID, latest) {
			latestID, latest = id, f
		}
	}
	v.Conflicting = len(truths) > 1
	switch {
	case adjID != "":
		v.GroundTruth, v.FeedbackID = adj.GroundTruth, adjID
	case v.Conflicting && policy == PolicyAdjudicate:
		v.NeedsAdjudication = true
	default:
		v.GroundTruth, v.FeedbackID = latest.GroundTruth, latestID
	}
	return v
}
