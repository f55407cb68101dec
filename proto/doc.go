// Package proto is the single place that names the platform's NATS subjects,
// JetStream streams and consumers, KV and object-store buckets, message headers
// and event schemas.
//
// Every event is JSON on the wire (readable with `nats sub`), carries a
// request_id and a schema_version, and is published to JetStream with a
// Nats-Msg-Id header built by the event's MsgID method so that a retried publish
// is de-duplicated by the server. Services never format subject strings
// themselves: they call the builders here, which validate their tokens.
package proto
