// Package drift is the drift monitor: it consumes inference results
// (inference.result.*, durable consumer proto.ConsumerDriftResults), keeps a
// sliding window of the latest results per (experiment, arm, model version)
// and compares it with that model version's training reference
// (driftstat.Reference, read from the ONNX file in the registry) on three
// signals: the input histogram's PSI, the KS test of the per-image input
// means and the positive-prediction rate (rule and thresholds:
// driftstat.Config).
//
// Every EvalEvery results of a window, and every EvalInterval while a window
// has results it has not judged, it publishes a proto.DriftReport on
// metrics.<experiment>.drift (the current values, whatever they are). When a
// signal crosses its alert threshold it publishes a proto.DriftAlert with
// status firing on alerts.<experiment>.drift, and one with status resolved
// when the signal is back below it: state changes only.
//
// Delivery: a result is acknowledged once it is in the window; the windows
// and the alert states live in memory. After a restart the consumer
// continues after the last acknowledged result, so windows start empty and
// refill (no alert before MinWindow results); an alert still firing before
// the restart is announced again if the drift persists (a consumer of
// alerts.> sees firing twice, never a resolved that did not happen). A
// report or alert whose publication fails is retried at the next
// evaluation; the alert state changes only once its alert is published.
package drift
