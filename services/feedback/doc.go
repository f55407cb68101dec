// Package feedback is the feedback service: it accepts radiologist feedback on
// a served prediction, validates it, and records it as a proto.FeedbackRecorded
// event on proto.SubjectFeedbackRecorded (stream proto.StreamFeedback). The
// evaluator joins recorded feedback with inference results later.
//
// # Inputs
//
//   - HTTP: POST /v1/feedback with a JSON proto.FeedbackSubmission (at most
//     Config.MaxBodyBytes, 64 KiB by default; unknown fields are rejected).
//     Success is 202 Accepted with {feedback_id, request_id, ground_truth},
//     sent only after JetStream acknowledged the recorded event. Failures are
//     application/problem+json bodies {type, title, status, detail, field}
//     naming the offending field (see client.Problem). Rejected HTTP
//     submissions are answered, not recorded: the caller holds the error.
//   - NATS: raw submissions published to proto.SubjectFeedbackSubmit are read
//     by the durable consumer proto.ConsumerFeedback with the same validation.
//     A valid one is recorded and acknowledged; an invalid one is recorded as
//     a proto.FeedbackRejected event on proto.SubjectFeedbackRejected, then
//     terminated as poison (bus.Permanent, so bus also dead-letters it).
//     A submission carrying a proto.HeaderReplyTo header gets the same JSON as
//     the HTTP response published to that inbox (JetStream itself answers a
//     stored message's reply subject with its publish acknowledgement, so the
//     header carries the client's inbox; see client.NATSClient).
//
// # Mapping and idempotency
//
// feedback_type true-positive and false-negative mean ground truth PNEUMONIA;
// false-positive and true-negative mean NORMAL (proto.GroundTruthOf). A
// submission may instead state ground_truth directly.
//
// feedback_id is the idempotency key. A client may send its own (letters,
// digits, '-' and '_', at most 128 characters). Otherwise DeriveFeedbackID
// derives it from the normalized (request_id, radiologist_id, feedback_type,
// ground_truth, notes, confidence): a double-click or a retried POST of the
// same feedback gets the same id, is published with the same Nats-Msg-Id
// ("feedback:<feedback_id>", de-duplicated by the stream inside its duplicate
// window) and is counted once by the evaluator, which de-duplicates by
// feedback_id forever. The source is not part of the key, so the same verdict
// sent through two channels also counts once. A changed verdict (different
// type, notes or confidence) is a new feedback; the evaluator's policy decides
// between the two.
//
// Feedback for a request_id the platform has not seen (yet) is accepted and
// recorded: the evaluator keeps it until the prediction arrives.
package feedback
