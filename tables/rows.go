package tables

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/healthcare-ai/platform/proto"
)

// Dated is a row with the partition it belongs to.
type Dated[T any] struct {
	Date string
	Row  T
}

// ImageIngestedRow maps an ImageIngested event to its bronze.xray_images row.
func ImageIngestedRow(e *proto.ImageIngested) Dated[proto.XRayImageRow] {
	r := proto.XRayImageRow{
		ImageID:         e.ImageID,
		RequestID:       e.RequestID,
		ClientRequestID: e.ClientRequestID,
		Status:          proto.ImageStatusIngested,
		Source:          e.Source,
		FileName:        e.FileName,
		URI:             e.Image.URI,
		ObjectKey:       e.Image.Key,
		SHA256:          e.Image.SHA256,
		Width:           int32(e.Image.Width),
		Height:          int32(e.Image.Height),
		Format:          e.Image.Format,
		SizeBytes:       e.Image.SizeBytes,
		DatasetLabel:    e.DatasetLabel,
		DatasetSplit:    e.DatasetSplit,
		PatientKey:      e.PatientKey,
		StudyID:         e.StudyID,
		IngestedAt:      e.IngestedAt.UTC(),

		Modality:          e.Modality,
		ViewPosition:      e.ViewPosition,
		Manufacturer:      e.Manufacturer,
		PixelSpacing:      e.PixelSpacing,
		StudyInstanceUID:  e.StudyInstanceUID,
		SeriesInstanceUID: e.SeriesInstanceUID,
		SOPInstanceUID:    e.SOPInstanceUID,
	}
	return Dated[proto.XRayImageRow]{Date: proto.PartitionDate(e.IngestedAt), Row: r}
}

// ImageRejectedRow maps an ImageRejected event to its bronze.xray_images row.
func ImageRejectedRow(e *proto.ImageRejected) Dated[proto.XRayImageRow] {
	r := proto.XRayImageRow{
		ImageID:         e.SHA256,
		RequestID:       e.RequestID,
		ClientRequestID: e.ClientRequestID,
		Status:          proto.ImageStatusRejected,
		Source:          e.Source,
		FileName:        e.FileName,
		SHA256:          e.SHA256,
		SizeBytes:       e.SizeBytes,
		RejectedCode:    e.ReasonCode,
		RejectedReason:  e.Reason,
		IngestedAt:      e.RejectedAt.UTC(),
	}
	return Dated[proto.XRayImageRow]{Date: proto.PartitionDate(e.RejectedAt), Row: r}
}

// InferenceResultRow maps an InferenceResult to its serving.inference_log row.
// seq is the result's INFERENCE stream sequence.
func InferenceResultRow(e *proto.InferenceResult, seq uint64) (Dated[proto.InferenceLogRow], error) {
	req, err := json.Marshal(struct {
		ImageURI string `json:"image_uri,omitempty"`
		ImageKey string `json:"image_key,omitempty"`
		SHA256   string `json:"sha256,omitempty"`
		Format   string `json:"format,omitempty"`
		Width    int    `json:"width,omitempty"`
		Height   int    `json:"height,omitempty"`
	}{e.Image.URI, e.Image.Key, e.Image.SHA256, e.Image.Format, e.Image.Width, e.Image.Height})
	if err != nil {
		return Dated[proto.InferenceLogRow]{}, fmt.Errorf("encode request column: %w", err)
	}
	var resp []byte
	if e.Status == proto.StatusOK {
		resp, err = json.Marshal(struct {
			Label       string  `json:"label"`
			Probability float64 `json:"probability"`
			Threshold   float64 `json:"threshold"`
		}{e.Label, e.Probability, e.Threshold})
	} else {
		resp, err = json.Marshal(struct {
			Error string `json:"error"`
		}{e.Error})
	}
	if err != nil {
		return Dated[proto.InferenceLogRow]{}, fmt.Errorf("encode response column: %w", err)
	}
	completed := e.CompletedAt
	if completed.IsZero() {
		completed = e.RoutedAt
	}
	r := proto.InferenceLogRow{
		RequestID:       e.RequestID,
		ClientRequestID: e.ClientRequestID,
		TimestampMS:     completed.UnixMilli(),
		StatusCode:      int32(e.StatusCode),
		ExecutionTimeMS: e.LatencyMS,
		ServedModelName: e.ModelName,
		ModelVersion:    e.ModelVersion,
		Experiment:      e.Experiment,
		Arm:             e.Arm,
		Served:          e.Served,
		ConfiguredSplit: e.ConfiguredSplit.String(),
		SplitChampion:   int32(e.ConfiguredSplit.Champion),
		SplitChallenger: int32(e.ConfiguredSplit.Challenger),
		Request:         string(req),
		Response:        string(resp),
		ImageURI:        e.Image.URI,
		PredictedLabel:  e.Label,
		Probability:     e.Probability,
		Threshold:       e.Threshold,
		Error:           e.Error,
		RoutedAt:        e.RoutedAt.UTC(),
		CompletedAt:     completed.UTC(),
		StreamSequence:  int64(seq),
		Epoch:           int64(e.Epoch),
	}
	return Dated[proto.InferenceLogRow]{Date: proto.PartitionDate(completed), Row: r}, nil
}

// FeedbackRow maps a FeedbackRecorded event to its gold.prediction_feedback
// row. seq is the event's FEEDBACK stream sequence.
func FeedbackRow(e *proto.FeedbackRecorded, seq uint64) Dated[proto.PredictionFeedbackRow] {
	r := proto.PredictionFeedbackRow{
		FeedbackID:     e.FeedbackID,
		RequestID:      e.RequestID,
		Timestamp:      e.RecordedAt.UTC(),
		GroundTruth:    e.GroundTruth,
		FeedbackType:   e.FeedbackType,
		RadiologistID:  e.RadiologistID,
		Confidence:     e.Confidence,
		FeedbackSource: e.Source,
		Notes:          e.Notes,
		StreamSequence: int64(seq),
	}
	return Dated[proto.PredictionFeedbackRow]{Date: proto.PartitionDate(e.RecordedAt), Row: r}
}

// WindowCumulative is the window of the evaluator's snapshots: counts since
// the experiment's first prediction.
const WindowCumulative = "cumulative"

// PerformanceRows maps a metrics snapshot to one gold.model_performance row
// per model.
func PerformanceRows(e *proto.MetricsSnapshot) []Dated[proto.ModelPerformanceRow] {
	at := e.GeneratedAt
	if at.IsZero() {
		at = time.Now()
	}
	out := make([]Dated[proto.ModelPerformanceRow], 0, len(e.Models))
	for _, m := range e.Models {
		r := proto.ModelPerformanceRow{
			SnapshotID:        e.SnapshotID,
			Experiment:        e.Experiment,
			Mode:              e.Mode,
			Window:            WindowCumulative,
			WindowEnd:         at.UTC(),
			Arm:               m.Arm,
			ServedModelName:   m.ModelName,
			ModelVersion:      m.ModelVersion,
			Predictions:       int64(m.Predictions),
			Errors:            int64(m.Errors),
			Served:            int64(m.Served),
			Feedback:          int64(m.Feedback),
			Coverage:          m.Coverage,
			TP:                int64(m.Confusion.TP),
			FP:                int64(m.Confusion.FP),
			TN:                int64(m.Confusion.TN),
			FN:                int64(m.Confusion.FN),
			Accuracy:          m.Accuracy,
			Sensitivity:       m.Sensitivity,
			Specificity:       m.Specificity,
			PPV:               m.PPV,
			NPV:               m.NPV,
			TrafficActual:     m.TrafficActual,
			TrafficConfigured: m.TrafficConfigured,
			PendingFeedback:   int64(e.PendingFeedback),
		}
		out = append(out, Dated[proto.ModelPerformanceRow]{Date: proto.PartitionDate(at), Row: r})
	}
	return out
}

// DecisionRow maps a DecisionEvent to its gold.experiment_decisions row.
func DecisionRow(e *proto.DecisionEvent) Dated[proto.ExperimentDecisionRow] {
	r := proto.ExperimentDecisionRow{
		DecisionID:         e.DecisionID,
		Experiment:         e.Experiment,
		Epoch:              int64(e.Epoch),
		Action:             e.Action,
		Outcome:            e.Outcome,
		RolloutMode:        e.RolloutMode,
		Actor:              e.Actor,
		Reason:             e.Reason,
		StageBefore:        int32(e.StageBefore),
		StageAfter:         int32(e.StageAfter),
		SplitBefore:        e.SplitBefore.String(),
		SplitAfter:         e.SplitAfter.String(),
		Test:               e.Test,
		Metric:             e.Metric,
		Statistic:          e.Statistic,
		PValue:             e.PValue,
		Difference:         e.Difference.Value,
		DifferenceLower:    e.Difference.Lower,
		DifferenceUpper:    e.Difference.Upper,
		SensitivityDiff:    e.SensitivityDiff.Value,
		SensitivityLower:   e.SensitivityDiff.Lower,
		SensitivityUpper:   e.SensitivityDiff.Upper,
		ChampionLabelled:   int64(e.ChampionN),
		ChallengerLabelled: int64(e.ChallengerN),
		SamplesNeeded:      int64(e.SamplesNeeded),
		ChampionModel:      e.Champion,
		ChallengerModel:    e.Challenger,
		Details:            string(e.Details),
		DecidedAt:          e.DecidedAt.UTC(),
	}
	return Dated[proto.ExperimentDecisionRow]{Date: proto.PartitionDate(e.DecidedAt), Row: r}
}
