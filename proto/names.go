package proto

import (
	"fmt"
	"strings"
)

// Arms of a champion/challenger experiment.
const (
	ArmChampion   = "champion"
	ArmChallenger = "challenger"
)

// Arms lists the experiment arms in a stable order.
var Arms = []string{ArmChampion, ArmChallenger}

// ValidArm reports whether arm names an experiment arm.
func ValidArm(arm string) bool { return arm == ArmChampion || arm == ArmChallenger }

// Streams. Each stream captures every subject under its prefix.
const (
	// StreamXRay holds image submissions from PACS integrations and the
	// ingestor's ingested/rejected events.
	StreamXRay = "XRAY"
	// StreamInference holds routed inference requests and inference results.
	StreamInference = "INFERENCE"
	// StreamFeedback holds raw feedback submissions and recorded feedback.
	StreamFeedback = "FEEDBACK"
	// StreamMetrics keeps the recent metrics snapshots so that a dashboard that
	// connects late still gets the latest numbers.
	StreamMetrics = "METRICS"
	// StreamDecisions holds experiment decisions (promote, keep testing, rollback).
	StreamDecisions = "DECISIONS"
	// StreamDeadLetter holds messages a consumer terminated as poison, with the
	// reason, so that nothing is dropped silently.
	StreamDeadLetter = "DEADLETTER"
	// StreamAlerts holds alerts (DriftAlert): one message per state change
	// (firing, resolved), for pagers and dashboards.
	StreamAlerts = "ALERTS"
)

// Subject prefixes, one per stream.
const (
	prefixXRay      = "xray"
	prefixInference = "inference"
	prefixFeedback  = "feedback"
	prefixMetrics   = "metrics"
	prefixDecisions = "decisions"
	prefixDead      = "deadletter"
	prefixAlerts    = "alerts"
)

// Subjects with no variable token.
const (
	// SubjectImageSubmit is where a PACS integration (or any client) announces an
	// image it has put in the inbox object store (see ImageSubmitted).
	SubjectImageSubmit = prefixXRay + ".submit"
	// SubjectImageIngested carries ImageIngested events.
	SubjectImageIngested = prefixXRay + ".ingested"
	// SubjectImageRejected carries ImageRejected events.
	SubjectImageRejected = prefixXRay + ".rejected"
	// SubjectFeedbackSubmit is where clients publish raw FeedbackSubmission
	// messages; the feedback service validates them.
	SubjectFeedbackSubmit = prefixFeedback + ".submit"
	// SubjectFeedbackRecorded carries validated FeedbackRecorded events.
	SubjectFeedbackRecorded = prefixFeedback + ".recorded"
	// SubjectFeedbackRejected carries FeedbackRejected events.
	SubjectFeedbackRejected = prefixFeedback + ".rejected"
)

// StreamSubjects returns the subject filter a stream captures.
func StreamSubjects(stream string) (string, error) {
	switch stream {
	case StreamXRay:
		return prefixXRay + ".>", nil
	case StreamInference:
		return prefixInference + ".>", nil
	case StreamFeedback:
		return prefixFeedback + ".>", nil
	case StreamMetrics:
		return prefixMetrics + ".>", nil
	case StreamDecisions:
		return prefixDecisions + ".>", nil
	case StreamDeadLetter:
		return prefixDead + ".>", nil
	case StreamAlerts:
		return prefixAlerts + ".>", nil
	}
	return "", fmt.Errorf("stream %q: unknown", stream)
}

// AllStreams lists every stream in creation order.
var AllStreams = []string{StreamXRay, StreamInference, StreamFeedback, StreamMetrics, StreamDecisions, StreamDeadLetter, StreamAlerts}

// DeadLetterSubject is where a consumer records a poison message:
// deadletter.<consumer>.
func DeadLetterSubject(consumer string) string {
	return prefixDead + "." + mustToken("consumer", consumer)
}

// InferenceRequestSubject is the subject of routed requests for one arm:
// inference.request.<arm>.
func InferenceRequestSubject(arm string) string {
	return prefixInference + ".request." + mustToken("arm", arm)
}

// InferenceRequestsAll matches the routed requests of every arm.
const InferenceRequestsAll = prefixInference + ".request.*"

// InferenceResultSubject is the subject of results produced for one arm:
// inference.result.<arm>.
func InferenceResultSubject(arm string) string {
	return prefixInference + ".result." + mustToken("arm", arm)
}

// InferenceResultsAll matches the results of every arm.
const InferenceResultsAll = prefixInference + ".result.*"

// MetricsExperimentSubject carries the MetricsSnapshot of a whole experiment:
// metrics.<experiment>.experiment.
func MetricsExperimentSubject(experiment string) string {
	return prefixMetrics + "." + mustToken("experiment", experiment) + ".experiment"
}

// MetricsModelSubject carries the ModelMetrics of one arm of an experiment:
// metrics.<experiment>.model.<arm>.
func MetricsModelSubject(experiment, arm string) string {
	return prefixMetrics + "." + mustToken("experiment", experiment) + ".model." + mustToken("arm", arm)
}

// MetricsExperimentsAll matches the MetricsSnapshot subjects of every
// experiment.
const MetricsExperimentsAll = prefixMetrics + ".*.experiment"

// MetricsAll matches every metrics subject (what dashboards subscribe to).
const MetricsAll = prefixMetrics + ".>"

// MetricsDriftSubject carries the DriftReport of every (arm, model version)
// of an experiment: metrics.<experiment>.drift.
func MetricsDriftSubject(experiment string) string {
	return prefixMetrics + "." + mustToken("experiment", experiment) + ".drift"
}

// MetricsDriftAll matches the DriftReport subjects of every experiment.
const MetricsDriftAll = prefixMetrics + ".*.drift"

// DriftAlertSubject carries the DriftAlert state changes (firing, resolved)
// of an experiment: alerts.<experiment>.drift.
func DriftAlertSubject(experiment string) string {
	return prefixAlerts + "." + mustToken("experiment", experiment) + ".drift"
}

// DriftAlertsAll matches the DriftAlert subjects of every experiment.
const DriftAlertsAll = prefixAlerts + ".*.drift"

// AlertsAll matches every alert subject (what pagers subscribe to).
const AlertsAll = prefixAlerts + ".>"

// DecisionSubject carries the decisions of an experiment: decisions.<experiment>.
func DecisionSubject(experiment string) string {
	return prefixDecisions + "." + mustToken("experiment", experiment)
}

// DecisionsAll matches the decisions of every experiment.
const DecisionsAll = prefixDecisions + ".*"

// Durable consumer names.
const (
	ConsumerIngestor          = "ingestor"
	ConsumerRouter            = "router"
	ConsumerFeedback          = "feedback"
	ConsumerEvaluatorResults  = "evaluator-results"
	ConsumerEvaluatorFeedback = "evaluator-feedback"
	// ConsumerDriftResults feeds the drift monitor (services/drift) with
	// inference results.
	ConsumerDriftResults = "drift-results"
)

// TableConsumer is the durable consumer that feeds a lakehouse table:
// table-<layer>-<table> with '_' written as '-'.
func TableConsumer(t Table) string {
	return "table-" + t.Layer + "-" + strings.ReplaceAll(t.Table, "_", "-")
}

// PredictorConsumer is the durable consumer of the predictor serving arm:
// predictor-<arm>.
func PredictorConsumer(arm string) string { return "predictor-" + mustToken("arm", arm) }

// KV and object-store buckets.
const (
	// BucketExperiments (KV) holds one Experiment per key (the experiment name):
	// the traffic split and mode that the router applies live.
	BucketExperiments = "experiments"
	// BucketRegistry (KV) holds model versions and aliases, see RegistryVersionKey
	// and RegistryAliasKey.
	BucketRegistry = "model-registry"
	// BucketModels (object store) holds the ONNX files, named by ModelObjectName.
	BucketModels = "models"
	// BucketInbox (object store) is where PACS integrations put image bytes before
	// publishing an ImageSubmitted event on SubjectImageSubmit.
	BucketInbox = "xray-inbox"
	// BucketEvaluatorState (KV) holds the evaluator's join state, one key per
	// request_id, so that joins survive restarts and arbitrarily late feedback.
	BucketEvaluatorState = "evaluator-join"
	// BucketRollout (KV) holds the rollout controller's state per experiment
	// (key: the experiment name): the decision engine's always-valid
	// summaries, the pending recommendation and the stage history.
	BucketRollout = "rollout"
)

// RegistryVersionKey is the registry key of one model version:
// version.<model>.<n>.
func RegistryVersionKey(model string, version int) string {
	return fmt.Sprintf("version.%s.%d", mustToken("model", model), version)
}

// RegistryAliasKey is the registry key of an alias (champion, challenger, ...):
// alias.<alias>.
func RegistryAliasKey(alias string) string { return "alias." + mustToken("alias", alias) }

// ModelObjectName is the object-store name of a model version's ONNX file:
// <model>/<n>.onnx.
func ModelObjectName(model string, version int) string {
	return fmt.Sprintf("%s/%d.onnx", mustToken("model", model), version)
}

// Message headers.
const (
	// HeaderMsgID is JetStream's de-duplication header.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderSchema names the event schema and version, e.g. "inference.result/1".
	HeaderSchema = "Hap-Schema"
	// HeaderRequestID repeats the request_id so tools can filter without parsing.
	HeaderRequestID = "Hap-Request-Id"
	// HeaderDeadReason, HeaderDeadStream, HeaderDeadSubject and HeaderDeadSeq
	// describe a dead-lettered message: why, and where it came from.
	HeaderDeadReason  = "Hap-Dead-Reason"
	HeaderDeadStream  = "Hap-Dead-Stream"
	HeaderDeadSubject = "Hap-Dead-Subject"
	HeaderDeadSeq     = "Hap-Dead-Seq"
	// HeaderReplyTo carries the inbox of a client that wants the outcome of a
	// message it published to JetStream (request/reply through a stream). The
	// message's own reply subject cannot be used: JetStream answers it with the
	// publish acknowledgement and does not store it. The consumer publishes its
	// answer (same JSON as the HTTP response) to this subject.
	HeaderReplyTo = "Hap-Reply-To"
	// HeaderTraceParent carries the W3C Trace Context of the event (package
	// trace): version 00, the trace id shared by every hop of one request from
	// ingestion to feedback, the span id of the hop that published it, flags.
	// It is also the HTTP header the ingestor and the feedback API accept.
	HeaderTraceParent = "traceparent"
)

// ValidToken reports whether s can be used as one token of a subject or key:
// non-empty, only letters, digits, '-' and '_'.
func ValidToken(s string) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if len(s) > 128 {
		return fmt.Errorf("longer than 128 characters")
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return fmt.Errorf("character %q not allowed (use letters, digits, '-' or '_')", r)
		}
	}
	return nil
}

// mustToken panics on an invalid token: names reaching the builders are
// validated at configuration time (see ValidToken), so an invalid one here is a
// programming error, not bad input.
func mustToken(what, s string) string {
	if err := ValidToken(s); err != nil {
		panic(fmt.Sprintf("proto: %s %q: %v", what, s, err))
	}
	return s
}

// SubjectTokens splits a subject into its tokens.
func SubjectTokens(subject string) []string { return strings.Split(subject, ".") }
