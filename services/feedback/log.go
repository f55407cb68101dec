package feedback

// Log attribute keys.
const (
	logErr         = "err"
	logFeedbackID  = "feedback_id"
	logGroundTruth = "ground_truth"
	logRequestID   = "request_id"
	logSubject     = "subject"
	logTraceID     = "trace_id"
)
