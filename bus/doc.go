// Package bus holds the platform's NATS JetStream plumbing: the embedded
// server used by the one-process launcher and by tests, stream creation from the
// names in package proto, event publishing with de-duplication headers, and a
// bounded consumer loop that decides every acknowledgement in one place.
//
// Delivery contract: a handler returns nil only after its effect is durable
// (blob written, event published and acknowledged by JetStream). Consume then
// double-acks the message. A handler error marked Permanent (bad input that
// redelivery cannot fix) terminates the message and records it on the
// dead-letter stream; any other error is retried with a delay, and after the
// consumer's MaxDeliver attempts the message is dead-lettered as well.
package bus
