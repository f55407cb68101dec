package proto

import (
	"fmt"
	"strings"
	"time"
)

// Lakehouse tables. Each table is a folder of Parquet files (zstd) in the blob
// store, Hive-partitioned by the UTC date of its event:
//
//	tables/<layer>/<table>/date=YYYY-MM-DD/part-<first>-<last>.parquet
//
// where <first> and <last> are the zero-padded stream sequences of the first
// and last message the file was built from. The partition column `date` is
// not stored inside the files (Spark and Athena reject a column that is both
// in the path and in the file); readers get it from the path
// (DuckDB: read_parquet(..., hive_partitioning = true)).
//
// The row types below are the schemas, defined once: the table writer writes
// them and the SQL in sql/ reads them. Add columns at the end and never change
// a column's type: readers union files by column name.
type Table struct {
	// Name is "<layer>.<table>", e.g. "serving.inference_log".
	Name string
	// Layer is bronze, serving or gold.
	Layer string
	// Table is the table name within its layer.
	Table string
}

// Tables of the lakehouse.
var (
	TableXRayImages          = Table{Name: "bronze.xray_images", Layer: "bronze", Table: "xray_images"}
	TableInferenceLog        = Table{Name: "serving.inference_log", Layer: "serving", Table: "inference_log"}
	TablePredictionFeedback  = Table{Name: "gold.prediction_feedback", Layer: "gold", Table: "prediction_feedback"}
	TableModelPerformance    = Table{Name: "gold.model_performance", Layer: "gold", Table: "model_performance"}
	TableExperimentDecisions = Table{Name: "gold.experiment_decisions", Layer: "gold", Table: "experiment_decisions"}
)

// AllTables lists every table in a stable order.
var AllTables = []Table{TableXRayImages, TableInferenceLog, TablePredictionFeedback, TableModelPerformance, TableExperimentDecisions}

// LookupTable finds a table by its name ("serving.inference_log") or its short
// name ("inference_log").
func LookupTable(name string) (Table, error) {
	for _, t := range AllTables {
		if name == t.Name || name == t.Table {
			return t, nil
		}
	}
	names := make([]string, len(AllTables))
	for i, t := range AllTables {
		names[i] = t.Name
	}
	return Table{}, fmt.Errorf("unknown table %q (known: %s)", name, strings.Join(names, ", "))
}

// TablesRoot is the blob-store key prefix under which every table lives.
const TablesRoot = "tables"

// Prefix is the blob-store key prefix of the table's files: "tables/<layer>/<table>/".
func (t Table) Prefix() string { return TablesRoot + "/" + t.Layer + "/" + t.Table + "/" }

// PartitionDate is the value of the `date` partition for an event time.
func PartitionDate(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Image statuses in bronze.xray_images.
const (
	ImageStatusIngested = "ingested"
	ImageStatusRejected = "rejected"
)

// XRayImageRow is a row of bronze.xray_images: one per ingested or rejected
// image. Partition date: ingested_at.
type XRayImageRow struct {
	ImageID         string    `parquet:"image_id,zstd"` // sha256 of the bytes; empty when rejected before hashing
	RequestID       string    `parquet:"request_id,zstd"`
	ClientRequestID string    `parquet:"client_request_id,optional,zstd"`
	Status          string    `parquet:"status,zstd"` // ingested | rejected
	Source          string    `parquet:"source,zstd"` // folder | upload | pacs
	FileName        string    `parquet:"file_name,optional,zstd"`
	URI             string    `parquet:"uri,optional,zstd"`        // where the bytes are (file://..., s3://...)
	ObjectKey       string    `parquet:"object_key,optional,zstd"` // blob-store key
	SHA256          string    `parquet:"sha256,optional,zstd"`
	Width           int32     `parquet:"width,zstd"`
	Height          int32     `parquet:"height,zstd"`
	Format          string    `parquet:"format,optional,zstd"` // jpeg | png (DICOM inputs are stored as png)
	SizeBytes       int64     `parquet:"size_bytes,zstd"`
	DatasetLabel    string    `parquet:"dataset_label,optional,zstd"` // NORMAL | PNEUMONIA when known
	DatasetSplit    string    `parquet:"dataset_split,optional,zstd"` // train | val | test when known
	PatientKey      string    `parquet:"patient_key,optional,zstd"`   // salted hash, never the patient id
	StudyID         string    `parquet:"study_id,optional,zstd"`
	RejectedCode    string    `parquet:"rejected_code,optional,zstd"`   // a Reject* code when rejected
	RejectedReason  string    `parquet:"rejected_reason,optional,zstd"` // human-readable reason when rejected
	IngestedAt      time.Time `parquet:"ingested_at,timestamp(millisecond:utc),zstd"`
	// DICOM attributes of an image that came as a DICOM file (see
	// ImageIngested); empty otherwise.
	Modality          string    `parquet:"modality,optional,zstd"`
	ViewPosition      string    `parquet:"view_position,optional,zstd"`
	Manufacturer      string    `parquet:"manufacturer,optional,zstd"`
	PixelSpacing      []float64 `parquet:"pixel_spacing,optional,list,zstd"` // mm: [between rows, between columns]
	StudyInstanceUID  string    `parquet:"study_instance_uid,optional,zstd"`
	SeriesInstanceUID string    `parquet:"series_instance_uid,optional,zstd"`
	SOPInstanceUID    string    `parquet:"sop_instance_uid,optional,zstd"`
}

// InferenceLogRow is a row of serving.inference_log, the seed's inference
// table: one per inference result (both arms in shadow mode). Partition date:
// the completion time.
type InferenceLogRow struct {
	RequestID       string    `parquet:"request_id,zstd"`
	ClientRequestID string    `parquet:"client_request_id,optional,zstd"`
	TimestampMS     int64     `parquet:"timestamp_ms,zstd"` // completion time, Unix milliseconds
	StatusCode      int32     `parquet:"status_code,zstd"`
	ExecutionTimeMS float64   `parquet:"execution_time_ms,zstd"`
	ServedModelName string    `parquet:"served_model_name,zstd"`
	ModelVersion    string    `parquet:"model_version,zstd"`
	Experiment      string    `parquet:"experiment,zstd"`
	Arm             string    `parquet:"arm,zstd"`
	Served          bool      `parquet:"served"`                // false for a shadow prediction
	ConfiguredSplit string    `parquet:"configured_split,zstd"` // "50/50" (champion/challenger)
	SplitChampion   int32     `parquet:"split_champion,zstd"`   // configured percent of the champion
	SplitChallenger int32     `parquet:"split_challenger,zstd"` // configured percent of the challenger
	Request         string    `parquet:"request,zstd"`          // JSON: {"image_uri","sha256","format","width","height"}
	Response        string    `parquet:"response,zstd"`         // JSON: {"label","probability","threshold"} or {"error"}
	ImageURI        string    `parquet:"image_uri,optional,zstd"`
	PredictedLabel  string    `parquet:"predicted_label,optional,zstd"`
	Probability     float64   `parquet:"probability,zstd"` // P(PNEUMONIA)
	Threshold       float64   `parquet:"threshold,zstd"`
	Error           string    `parquet:"error,optional,zstd"`
	RoutedAt        time.Time `parquet:"routed_at,timestamp(millisecond:utc),zstd"`
	CompletedAt     time.Time `parquet:"completed_at,timestamp(millisecond:utc),zstd"`
	StreamSequence  int64     `parquet:"stream_sequence,zstd"` // INFERENCE stream sequence (lineage)
	Epoch           int64     `parquet:"epoch,zstd"`           // experiment epoch (rollout stage) the request was routed in
}

// PredictionFeedbackRow is a row of gold.prediction_feedback: one per recorded
// feedback. Partition date: recorded time.
type PredictionFeedbackRow struct {
	FeedbackID     string    `parquet:"feedback_id,zstd"`
	RequestID      string    `parquet:"request_id,zstd"`
	Timestamp      time.Time `parquet:"timestamp,timestamp(millisecond:utc),zstd"`
	GroundTruth    string    `parquet:"ground_truth,zstd"` // NORMAL | PNEUMONIA
	FeedbackType   string    `parquet:"feedback_type,optional,zstd"`
	RadiologistID  string    `parquet:"radiologist_id,optional,zstd"`
	Confidence     *float64  `parquet:"confidence,optional,zstd"`
	FeedbackSource string    `parquet:"feedback_source,zstd"`
	Notes          string    `parquet:"notes,optional,zstd"`
	StreamSequence int64     `parquet:"stream_sequence,zstd"` // FEEDBACK stream sequence: orders verdicts
}

// ModelPerformanceRow is a row of gold.model_performance: one per model per
// metrics snapshot of the evaluator. Counts are cumulative over the window
// [window_start, window_end]; window_start is the experiment's start as the
// evaluator knows it (zero when unknown). Partition date: window_end.
type ModelPerformanceRow struct {
	SnapshotID        string    `parquet:"snapshot_id,zstd"`
	Experiment        string    `parquet:"experiment,zstd"`
	Mode              string    `parquet:"mode,zstd"`
	Window            string    `parquet:"window,zstd"` // "cumulative"
	WindowEnd         time.Time `parquet:"window_end,timestamp(millisecond:utc),zstd"`
	Arm               string    `parquet:"arm,zstd"`
	ServedModelName   string    `parquet:"served_model_name,zstd"`
	ModelVersion      string    `parquet:"model_version,zstd"`
	Predictions       int64     `parquet:"predictions,zstd"`
	Errors            int64     `parquet:"errors,zstd"`
	Served            int64     `parquet:"served,zstd"`
	Feedback          int64     `parquet:"feedback,zstd"`
	Coverage          float64   `parquet:"coverage,zstd"`
	TP                int64     `parquet:"tp,zstd"`
	FP                int64     `parquet:"fp,zstd"`
	TN                int64     `parquet:"tn,zstd"`
	FN                int64     `parquet:"fn,zstd"`
	Accuracy          float64   `parquet:"accuracy,zstd"`
	Sensitivity       float64   `parquet:"sensitivity,zstd"`
	Specificity       float64   `parquet:"specificity,zstd"`
	PPV               float64   `parquet:"ppv,zstd"`
	NPV               float64   `parquet:"npv,zstd"`
	TrafficActual     float64   `parquet:"traffic_actual,zstd"`
	TrafficConfigured float64   `parquet:"traffic_configured,zstd"`
	PendingFeedback   int64     `parquet:"pending_feedback,zstd"`
}
