// Package tablewriter is the service that fills the lakehouse tables
// (package tables) from the event streams: bronze.xray_images from XRAY,
// serving.inference_log from INFERENCE results, gold.prediction_feedback from
// recorded feedback and gold.model_performance from the evaluator's metrics
// snapshots.
//
// One writer per table reads its stream through a durable pull consumer,
// buffers rows and flushes them by row count, bytes or time. A flush writes
// one Parquet part per date partition, named by the batch's first and last
// stream sequence, then the table's checkpoint (the last sequence written),
// and only then acknowledges the messages. So:
//   - nothing is lost: a message is acknowledged only once its row is in an
//     object the store acknowledged; store errors are retried with backoff
//     (the messages are kept in progress meanwhile), for as long as it takes;
//   - nothing is duplicated: the checkpoint, not the consumer, is the offset.
//     On start the writer removes parts past the checkpoint (written by a flush
//     that crashed before committing) and restarts its consumer at the
//     checkpoint's next sequence, so the same messages are written again,
//     once;
//   - readers never see a partial file (the store's Put is atomic).
//
// A message that is not a valid event is dead-lettered (deadletter.<durable>)
// and counted as written. Run one writer per table and store: two writers of
// the same table would undo each other's uncommitted parts.
package tablewriter
