package bus

import (
	"context"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/trace"
)

// NewMsg encodes an event into a NATS message for subject with the schema,
// request id and (when the event has one) Nats-Msg-Id headers set.
func NewMsg(subject string, e proto.Event) (*nats.Msg, error) {
	return NewMsgWith(subject, e, nil)
}

// NewMsgWith is NewMsg with extra headers (such as proto.HeaderTraceParent,
// see TraceHeader). The extra headers cannot replace the schema, request id
// and Nats-Msg-Id headers that NewMsg sets.
func NewMsgWith(subject string, e proto.Event, hdr nats.Header) (*nats.Msg, error) {
	data, err := proto.Encode(e)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(subject)
	m.Data = data
	for k, v := range hdr {
		m.Header[k] = slices.Clone(v)
	}
	m.Header.Set(proto.HeaderSchema, proto.SchemaHeader(e))
	if id := e.ID(); id != "" {
		m.Header.Set(proto.HeaderRequestID, id)
	}
	if id := e.MsgID(); id != "" {
		m.Header.Set(proto.HeaderMsgID, id)
	}
	return m, nil
}

// Publish publishes an event to JetStream and waits for the stream's
// acknowledgement. A duplicate (same Nats-Msg-Id within the stream's window) is
// acknowledged without being stored twice and is not an error.
func Publish(ctx context.Context, js jetstream.JetStream, subject string, e proto.Event) (*jetstream.PubAck, error) {
	return PublishWith(ctx, js, subject, e, nil)
}

// PublishWith is Publish with extra headers (see NewMsgWith).
func PublishWith(ctx context.Context, js jetstream.JetStream, subject string, e proto.Event, hdr nats.Header) (*jetstream.PubAck, error) {
	m, err := NewMsgWith(subject, e, hdr)
	if err != nil {
		return nil, err
	}
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("publish %s request_id=%s: %w", subject, e.ID(), err)
	}
	return ack, nil
}

// TraceHeader is the header that carries p (proto.HeaderTraceParent), for
// PublishWith.
func TraceHeader(p trace.Parent) nats.Header {
	return nats.Header{proto.HeaderTraceParent: []string{p.String()}}
}

// TraceOf returns the traceparent of a message's headers when it holds a
// valid one, else the one derived from requestID (trace.FromRequestID).
func TraceOf(h nats.Header, requestID string) trace.Parent {
	return trace.Or(h.Get(proto.HeaderTraceParent), requestID)
}
