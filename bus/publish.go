package bus

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/proto"
)

// NewMsg encodes an event into a NATS message for subject with the schema,
// request id and (when the event has one) Nats-Msg-Id headers set.
func NewMsg(subject string, e proto.Event) (*nats.Msg, error) {
	data, err := proto.Encode(e)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(subject)
	m.Data = data
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
	m, err := NewMsg(subject, e)
	if err != nil {
		return nil, err
	}
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("publish %s request_id=%s: %w", subject, e.ID(), err)
	}
	return ack, nil
}
