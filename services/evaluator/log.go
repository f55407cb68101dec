package evaluator

// Log attribute keys.
const (
	logArm          = "arm"
	logErr          = "err"
	logExperiment   = "experiment"
	logFeedbackID   = "feedback_id"
	logGroundTruth  = "ground_truth"
	logKey          = "key"
	logModel        = "model"
	logModelVersion = "model_version"
	logRequestID    = "request_id"
	logSnapshotID   = "snapshot_id"
	logTraceID      = "trace_id"
)
