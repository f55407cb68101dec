package proto

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// SchemaVersion is the version of every event schema defined here. A consumer
// rejects (terminates, dead-letters) an event with a newer major version than it
// understands instead of misreading it.
const SchemaVersion = 1

// Labels of the binary pneumonia task.
const (
	LabelNormal    = "NORMAL"
	LabelPneumonia = "PNEUMONIA"
)

// ValidLabel reports whether s is NORMAL or PNEUMONIA.
func ValidLabel(s string) bool { return s == LabelNormal || s == LabelPneumonia }

// Image sources recorded in the bronze metadata.
const (
	SourceFolder = "folder"
	SourceUpload = "upload"
	SourcePACS   = "pacs"
)

// Event is implemented by every event type.
type Event interface {
	// Schema names the event type, e.g. "inference.result".
	Schema() string
	// MsgID is the Nats-Msg-Id used for de-duplication of this event.
	MsgID() string
	// ID is the request_id the event belongs to.
	ID() string
	// Check validates the event's required fields.
	Check() error
}

// Encode marshals an event after checking it and stamping its schema version.
func Encode(e Event) ([]byte, error) {
	if err := e.Check(); err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.Schema(), err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.Schema(), err)
	}
	return b, nil
}

// ErrSchema is returned (wrapped) by Decode for a message that is not a valid
// event of the expected schema: malformed JSON, an unsupported schema_version or
// a missing required field. Such a message is poison: redelivery cannot fix it.
var ErrSchema = errors.New("invalid event")

// Decode unmarshals data into e and validates it.
func Decode(data []byte, e Event) error {
	if err := json.Unmarshal(data, e); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrSchema, e.Schema(), err)
	}
	var v struct {
		SchemaVersion int `json:"schema_version"`
	}
	_ = json.Unmarshal(data, &v)
	if v.SchemaVersion > SchemaVersion {
		return fmt.Errorf("%w: %s: schema_version %d is newer than supported %d", ErrSchema, e.Schema(), v.SchemaVersion, SchemaVersion)
	}
	if err := e.Check(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrSchema, e.Schema(), err)
	}
	return nil
}

// SchemaHeader is the value of HeaderSchema for an event: "<schema>/<version>".
func SchemaHeader(e Event) string { return fmt.Sprintf("%s/%d", e.Schema(), SchemaVersion) }

func required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s: required", field)
	}
	return nil
}

// ImageRef locates stored image bytes in the blob store (bronze volume).
type ImageRef struct {
	// Key is the blob-store key, e.g. "bronze/images/date=2026-11-28/<image_id>.jpeg".
	Key       string `json:"key"`
	URI       string `json:"uri"` // the key as a URI of the configured store (file://..., s3://...)
	SHA256    string `json:"sha256"`
	SizeBytes int64  `json:"size_bytes"`
	Format    string `json:"format"` // jpeg or png (a DICOM input is stored as png)
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

// ImageSubmitted is published on SubjectImageSubmit by a PACS integration after
// it has put the image bytes into the BucketInbox object store under InboxObject.
// Image bytes never travel inside NATS messages.
type ImageSubmitted struct {
	SchemaVersion   int       `json:"schema_version"`
	RequestID       string    `json:"request_id"`                  // required; the integration's unique id for this image
	ClientRequestID string    `json:"client_request_id,omitempty"` // caller's own reference, echoed in results
	Source          string    `json:"source"`                      // defaults to "pacs"
	InboxObject     string    `json:"inbox_object"`                // object name in BucketInbox
	FileName        string    `json:"file_name,omitempty"`
	PatientID       string    `json:"patient_id,omitempty"` // hashed by the ingestor before storage
	StudyID         string    `json:"study_id,omitempty"`
	DatasetLabel    string    `json:"dataset_label,omitempty"` // known label (data sets, tests)
	DatasetSplit    string    `json:"dataset_split,omitempty"`
	SubmittedAt     time.Time `json:"submitted_at"`
}

func (e *ImageSubmitted) Schema() string { return "xray.submit" }
func (e *ImageSubmitted) MsgID() string  { return "submit:" + e.RequestID }
func (e *ImageSubmitted) ID() string     { return e.RequestID }
func (e *ImageSubmitted) Check() error {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	if err := required("request_id", e.RequestID); err != nil {
		return err
	}
	return required("inbox_object", e.InboxObject)
}

// ImageIngested is published on SubjectImageIngested once the image bytes are
// durably stored and validated.
type ImageIngested struct {
	SchemaVersion   int       `json:"schema_version"`
	RequestID       string    `json:"request_id"`
	ClientRequestID string    `json:"client_request_id,omitempty"`
	ImageID         string    `json:"image_id"` // content address: sha256 of the bytes
	Source          string    `json:"source"`
	FileName        string    `json:"file_name,omitempty"`
	Image           ImageRef  `json:"image"`
	PatientKey      string    `json:"patient_key,omitempty"` // salted hash of the patient id, for arm stickiness
	StudyID         string    `json:"study_id,omitempty"`
	DatasetLabel    string    `json:"dataset_label,omitempty"`
	DatasetSplit    string    `json:"dataset_split,omitempty"`
	IngestedAt      time.Time `json:"ingested_at"`

	// DICOM attributes, set when the image came as a DICOM file (its bytes
	// are then stored as the decoded 8-bit PNG, Image.Format "png": the
	// DICOM file itself is never stored). Only these de-identified
	// attributes are kept; PatientKey holds the salted hash of the DICOM
	// PatientID. The UIDs link back to the PACS: they are pseudonymous.
	Modality          string    `json:"modality,omitempty"`           // CR or DX
	ViewPosition      string    `json:"view_position,omitempty"`      // PA, AP, LL, ...
	Manufacturer      string    `json:"manufacturer,omitempty"`       // of the equipment
	PixelSpacing      []float64 `json:"pixel_spacing,omitempty"`      // mm: between rows, between columns
	StudyInstanceUID  string    `json:"study_instance_uid,omitempty"` // (0020,000D)
	SeriesInstanceUID string    `json:"series_instance_uid,omitempty"`
	SOPInstanceUID    string    `json:"sop_instance_uid,omitempty"`
}

func (e *ImageIngested) Schema() string { return "xray.ingested" }
func (e *ImageIngested) MsgID() string  { return "ingested:" + e.RequestID }
func (e *ImageIngested) ID() string     { return e.RequestID }
func (e *ImageIngested) Check() error {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	if err := required("request_id", e.RequestID); err != nil {
		return err
	}
	if err := required("image.key", e.Image.Key); err != nil {
		return err
	}
	return required("image.sha256", e.Image.SHA256)
}

// Rejection reason codes (stable, for metrics and the bronze table).
const (
	RejectTooLarge    = "too_large"
	RejectTooSmall    = "too_small"
	RejectUndecodable = "undecodable"
	RejectFormat      = "unsupported_format"
	RejectMissing     = "missing"
	RejectInvalid     = "invalid_request"
)

// ImageRejected is published on SubjectImageRejected for an image that failed
// validation. Nothing is dropped silently: every rejected input leaves one.
type ImageRejected struct {
	SchemaVersion   int       `json:"schema_version"`
	RequestID       string    `json:"request_id"`
	ClientRequestID string    `json:"client_request_id,omitempty"`
	Source          string    `json:"source"`
	FileName        string    `json:"file_name,omitempty"`
	SizeBytes       int64     `json:"size_bytes"`
	SHA256          string    `json:"sha256,omitempty"`
	ReasonCode      string    `json:"reason_code"`
	Reason          string    `json:"reason"`
	RejectedAt      time.Time `json:"rejected_at"`
}

func (e *ImageRejected) Schema() string { return "xray.rejected" }
func (e *ImageRejected) MsgID() string  { return "rejected:" + e.RequestID }
func (e *ImageRejected) ID() string     { return e.RequestID }
func (e *ImageRejected) Check() error {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	if err := required("request_id", e.RequestID); err != nil {
		return err
	}
	return required("reason_code", e.ReasonCode)
}

// Split is a traffic split in percent per arm; the weights sum to 100.
type Split struct {
	Champion   int `json:"champion"`
	Challenger int `json:"challenger"`
}

// Check validates the weights.
func (s Split) Check() error {
	if s.Champion < 0 || s.Challenger < 0 {
		return fmt.Errorf("split %d/%d: weights must not be negative", s.Champion, s.Challenger)
	}
	if s.Champion+s.Challenger != 100 {
		return fmt.Errorf("split %d/%d: weights must sum to 100", s.Champion, s.Challenger)
	}
	return nil
}

// String renders the split as "50/50".
func (s Split) String() string { return fmt.Sprintf("%d/%d", s.Champion, s.Challenger) }

// Weight returns the weight of an arm.
func (s Split) Weight(arm string) int {
	if arm == ArmChallenger {
		return s.Challenger
	}
	return s.Champion
}

// Experiment modes.
const (
	// ModeSplit serves each request by exactly one arm, chosen by the split.
	ModeSplit = "split"
	// ModeShadow scores every request with both arms; only the champion's answer
	// is served.
	ModeShadow = "shadow"
)

// Experiment is the live configuration of a champion/challenger experiment,
// stored in BucketExperiments under its name. The router applies changes live.
type Experiment struct {
	SchemaVersion int       `json:"schema_version"`
	Name          string    `json:"name"`
	Mode          string    `json:"mode"`
	Split         Split     `json:"split"`
	Stage         int       `json:"stage"` // index in the rollout stages
	UpdatedAt     time.Time `json:"updated_at"`
	UpdatedBy     string    `json:"updated_by"`
	Reason        string    `json:"reason,omitempty"`
	// Epoch numbers the periods in which the experiment's configuration is
	// constant, so that each rollout stage is tested on its own data. Whoever
	// writes the experiment increments it on every change of split, mode or
	// the models of its arms, and it never goes back: the router's
	// UpdateExperiment (so SetSplit, SetMode and the rollout controller's
	// stage changes) increments it when the split, the mode or the stage
	// changes, and StartEpoch for any other reason (a model moved to an
	// arm). The router stamps it on every InferenceRequest, the predictor
	// copies it onto the InferenceResult, and the evaluator keeps numbers per
	// epoch (MetricsSnapshot.Epochs). A record written before epochs existed
	// reads as epoch 0.
	Epoch int `json:"epoch"`
}

// Check validates the experiment.
func (e *Experiment) Check() error {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	if err := ValidToken(e.Name); err != nil {
		return fmt.Errorf("name %q: %v", e.Name, err)
	}
	if e.Mode != ModeSplit && e.Mode != ModeShadow {
		return fmt.Errorf("mode %q: must be %q or %q", e.Mode, ModeSplit, ModeShadow)
	}
	if err := checkEpoch(e.Epoch); err != nil {
		return err
	}
	return e.Split.Check()
}

func checkEpoch(epoch int) error {
	if epoch < 0 {
		return fmt.Errorf("epoch %d: must not be negative", epoch)
	}
	return nil
}

// InferenceRequest is published by the router on InferenceRequestSubject(arm).
type InferenceRequest struct {
	SchemaVersion   int    `json:"schema_version"`
	RequestID       string `json:"request_id"`
	ClientRequestID string `json:"client_request_id,omitempty"`
	Experiment      string `json:"experiment"`
	Arm             string `json:"arm"`
	// Served is false for a shadow request: the result is recorded and evaluated
	// but never returned to the caller.
	Served          bool      `json:"served"`
	Mode            string    `json:"mode"`
	ConfiguredSplit Split     `json:"configured_split"`
	Image           ImageRef  `json:"image"`
	Source          string    `json:"source"`
	PatientKey      string    `json:"patient_key,omitempty"`
	DatasetLabel    string    `json:"dataset_label,omitempty"`
	IngestedAt      time.Time `json:"ingested_at"`
	RoutedAt        time.Time `json:"routed_at"`
	// Epoch is the experiment's Epoch when the request was routed (0 in
	// events from before epochs existed).
	Epoch int `json:"epoch"`
}

func (e *InferenceRequest) Schema() string { return "inference.request" }
func (e *InferenceRequest) MsgID() string  { return "request:" + e.RequestID + ":" + e.Arm }
func (e *InferenceRequest) ID() string     { return e.RequestID }
func (e *InferenceRequest) Check() error {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	if err := required("request_id", e.RequestID); err != nil {
		return err
	}
	if !ValidArm(e.Arm) {
		return fmt.Errorf("arm %q: must be %q or %q", e.Arm, ArmChampion, ArmChallenger)
	}
	if err := checkEpoch(e.Epoch); err != nil {
		return err
	}
	return required("image.key", e.Image.Key)
}

// Inference result statuses.
const (
	StatusOK    = "ok"
	StatusError = "error"
)

// InferenceResult is published by a predictor on InferenceResultSubject(arm):
// one per request and arm. It is the inference log's row.
type InferenceResult struct {
	SchemaVersion   int       `json:"schema_version"`
	RequestID       string    `json:"request_id"`
	ClientRequestID string    `json:"client_request_id,omitempty"`
	Experiment      string    `json:"experiment"`
	Arm             string    `json:"arm"`
	Served          bool      `json:"served"`
	ConfiguredSplit Split     `json:"configured_split"`
	ModelName       string    `json:"served_model_name"`
	ModelVersion    string    `json:"model_version"`
	Status          string    `json:"status"`          // ok | error
	StatusCode      int       `json:"status_code"`     // HTTP-like: 200, 400 (bad input), 500
	Error           string    `json:"error,omitempty"` // reason when status is error
	Label           string    `json:"label,omitempty"`
	Probability     float64   `json:"probability"` // P(PNEUMONIA)
	Threshold       float64   `json:"threshold"`
	LatencyMS       float64   `json:"latency_ms"` // fetch + preprocess + inference
	Image           ImageRef  `json:"image"`
	RoutedAt        time.Time `json:"routed_at"`
	CompletedAt     time.Time `json:"completed_at"`
	// Epoch is copied from the InferenceRequest: the experiment epoch the
	// request was routed in (0 in events from before epochs existed). The
	// evaluator counts the result, and feedback on it however late, in that
	// epoch.
	Epoch int `json:"epoch"`
	// InputStats summarises the preprocessed tensor the model ran on (set by
	// the predictor on status ok; absent in results from before it existed
	// and from front ends that do not compute it). The drift monitor
	// compares it with the model's training reference. Check does not look
	// at it: consumers that use it validate it with InputStats.Check and
	// ignore an invalid one, so a bad summary never costs the result.
	InputStats *InputStats `json:"input_stats,omitempty"`
}

// InputStatsBins is the number of histogram bins of InputStats.
const InputStatsBins = 16

// InputStats summarises one preprocessed input tensor in one pass: its
// moments and a fixed-bin histogram.
//
// The histogram has InputStatsBins equal-width bins over [Lo, Hi], the
// range the model's preprocessing can produce: Lo and Hi are the tensor
// values of gray levels 0 and 255, (0*Scale-Mean)/Std and
// (255*Scale-Mean)/Std of the model's preprocess spec (for the committed
// models, Scale 1/255, Mean 0.5, Std 0.25: [-2, 2], so each bin spans 16
// gray levels). Bin i counts the values v with
// Lo + i*(Hi-Lo)/InputStatsBins <= v < Lo + (i+1)*(Hi-Lo)/InputStatsBins; the
// last bin includes Hi, and values outside [Lo, Hi] (none with this
// preprocessing) are counted in the first or last bin. Histograms are
// comparable only between tensors of the same preprocessing, which is why
// drift is measured per model version against that model's reference.
type InputStats struct {
	N         int     `json:"n"`    // values in the tensor: channels*height*width
	Mean      float64 `json:"mean"` // of the tensor values
	Std       float64 `json:"std"`  // population standard deviation
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	Lo        float64 `json:"lo"`        // histogram range, see the type doc
	Hi        float64 `json:"hi"`        //
	Histogram []int   `json:"histogram"` // InputStatsBins counts summing to N
}

// Check validates the statistics: a histogram of InputStatsBins counts that
// sum to N, finite moments and Lo < Hi.
func (s *InputStats) Check() error {
	if s.N < 1 {
		return fmt.Errorf("input_stats.n %d: must be positive", s.N)
	}
	if len(s.Histogram) != InputStatsBins {
		return fmt.Errorf("input_stats.histogram: %d bins, want %d", len(s.Histogram), InputStatsBins)
	}
	total := 0
	for i, c := range s.Histogram {
		if c < 0 {
			return fmt.Errorf("input_stats.histogram[%d] %d: must not be negative", i, c)
		}
		total += c
	}
	if total != s.N {
		return fmt.Errorf("input_stats.histogram: counts sum to %d, want n %d", total, s.N)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"mean", s.Mean}, {"std", s.Std}, {"min", s.Min}, {"max", s.Max}, {"lo", s.Lo}, {"hi", s.Hi}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("input_stats.%s %v: must be finite", f.name, f.v)
		}
	}
	if !(s.Lo < s.Hi) {
		return fmt.Errorf("input_stats: lo %v must be below hi %v", s.Lo, s.Hi)
	}
	if s.Std < 0 {
		return fmt.Errorf("input_stats.std %v: must not be negative", s.Std)
	}
	return nil
}

func (e *InferenceResult) Schema() string { return "inference.result" }
func (e *InferenceResult) MsgID() string  { return "result:" + e.RequestID + ":" + e.Arm }
func (e *InferenceResult) ID() string     { return e.RequestID }
func (e *InferenceResult) Check() error {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	if err := required("request_id", e.RequestID); err != nil {
		return err
	}
	if !ValidArm(e.Arm) {
		return fmt.Errorf("arm %q: must be %q or %q", e.Arm, ArmChampion, ArmChallenger)
	}
	if e.Status != StatusOK && e.Status != StatusError {
		return fmt.Errorf("status %q: must be %q or %q", e.Status, StatusOK, StatusError)
	}
	if err := checkEpoch(e.Epoch); err != nil {
		return err
	}
	if e.Status == StatusOK && !ValidLabel(e.Label) {
		return fmt.Errorf("label %q: must be %s or %s", e.Label, LabelNormal, LabelPneumonia)
	}
	return nil
}
