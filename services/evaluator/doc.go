// Package evaluator joins inference results with radiologist feedback and keeps
// the live clinical metrics of every experiment arm (the seed's
// model_performance_live view).
//
// # Inputs and state
//
// The service reads two durable consumers: proto.ConsumerEvaluatorResults on
// proto.StreamInference (proto.InferenceResultsAll) and
// proto.ConsumerEvaluatorFeedback on proto.StreamFeedback
// (proto.SubjectFeedbackRecorded). Results and feedback arrive in any order and
// arbitrarily late (feedback days after the prediction, or before it), so the
// join state of every request lives in the KV bucket proto.BucketEvaluatorState
// under StateKey(request_id): a RequestState holding the result of each arm
// (model, version, label, probability, served, status), every feedback by
// feedback_id, and the derived verdict. Each message is folded into that state
// with a compare-and-set update (read the revision, write with kv.Update or
// kv.Create, re-read and retry on a conflict) and is acknowledged only after
// the write succeeded; a message that does not change the state (a
// redelivery) is acknowledged without a write. Updates of one key are also
// serialized inside the process, so that a write whose outcome is unknown (a
// timeout after the server stored it) is settled on the next attempt by
// comparing the stored value with the one written.
//
// # Counting semantics
//
//   - A result counts once per (request, arm). A second, different result for
//     the same arm replaces the first if it completed later.
//   - Feedback counts once per feedback_id: the same feedback delivered twice
//     (redelivery, a publish repeated after the stream's duplicate window) is
//     kept once; of two recordings of one feedback_id the earliest is kept.
//   - Different feedback on one request (a corrected verdict, a second
//     reader) never counts twice. The Policy decides which one counts:
//     PolicyLatest (default) takes the one with the latest recorded_at (ties:
//     the larger feedback_id) and removes the previous one's contribution;
//     PolicyAdjudicate takes the common ground truth when all feedback agrees,
//     and otherwise flags the request for adjudication
//     (MetricsSnapshot.Adjudication) and excludes it from the metrics until
//     a feedback with source SourceAdjudication resolves it. Under both
//     policies the latest adjudication feedback overrides all others.
//   - Feedback whose implied prediction (proto.ImpliedPrediction: a
//     "true-positive" says the model said PNEUMONIA) disagrees with the served
//     label is still counted with the ground truth it states, and increments
//     the arm's inconsistent_feedback.
//   - A shadow result (served=false) counts in its arm's predictions and
//     confusion matrix, not in served or traffic_actual; inconsistency is
//     judged against the served result only, since that is what the
//     radiologist saw.
//   - An error result counts in errors, not in predictions, and is never
//     joined with feedback.
//   - Feedback whose request has no result yet is pending
//     (MetricsSnapshot.PendingFeedback). It cannot be attributed to an
//     experiment before its result arrives, so every snapshot reports the
//     global number.
//
// traffic_actual is an arm's share of the experiment's served predictions;
// traffic_configured, the mode and each arm's model name and version are the
// latest seen in results (by completed_at). Metrics are kept per arm: when an
// arm's model version changes mid-experiment its counts mix both versions and
// the snapshot names the latest one; compare versions by starting a new
// epoch (router.StartEpoch) or a new experiment. Results without an
// experiment are counted under DefaultExperiment.
//
// # Epochs and paired counts
//
// Every result carries the experiment epoch it was routed in
// (proto.Experiment.Epoch, 0 for events from before epochs existed), and the
// join state keeps it with the result. Besides the cumulative numbers above,
// the same counts are kept per (experiment, epoch, arm) and published in
// MetricsSnapshot.Epochs: a feedback joins the epoch of the prediction it
// judges, however late it comes, never the epoch current when it arrives, so
// every rollout stage is measured on its own data. Within an epoch,
// traffic_actual is the arm's share of the epoch's served predictions and
// traffic_configured, model name and version are the latest seen in the
// epoch's results. An epoch no request counts in (any more) is left out.
//
// Per (experiment, epoch) the evaluator also keeps the paired table of a
// McNemar test (proto.PairedCounts: both correct, only the champion, only
// the challenger, both wrong), over the requests that have a result with
// status ok from both arms, in the same experiment and epoch (shadow mode),
// and a verdict; it is also split by the verdict's ground truth
// (paired_positives, paired_negatives). A request with an error from one arm,
// without a verdict, or awaiting adjudication is not a pair. The pair is part
// of the request's contribution, so a changed verdict moves the request from
// one cell to another, and a restart rebuilds the tables from the stored
// states like everything else.
//
// # Aggregates and restarts
//
// In-memory aggregates (per experiment and arm, per experiment, epoch and
// arm, and the paired tables) are a pure function of the stored states: each
// request contributes counts computed from its state and the policy. Every successful write moves the aggregates by the new state's
// contribution minus the old one's, so a correction replaces rather than adds.
// On start Run rebuilds the aggregates by streaming every value of the bucket
// once, before consuming: a KV watch, O(requests) time and O(experiments x
// epochs) memory (states are decoded, counted and dropped). BenchmarkRebuild measured
// about 55 µs per request on a busy 2-core machine, mostly JSON decoding, so a
// million requests load in about a minute; past that, checkpointing the
// aggregates would be the next step. Changing the policy and restarting re-derives every verdict.
// One evaluator instance per bucket: a second instance would share the durable
// consumers and see only part of the transitions.
//
// # Outputs
//
// When numbers change, a proto.MetricsSnapshot is published on
// proto.MetricsExperimentSubject and each arm's proto.ModelMetrics on
// proto.MetricsModelSubject (stream proto.StreamMetrics), at most once per
// Config.PublishInterval and once more after the last change. HTTP (Handler):
// GET /v1/metrics, GET /v1/metrics/{experiment} and GET
// /v1/requests/{request_id} (the joined state of one request).
package evaluator
