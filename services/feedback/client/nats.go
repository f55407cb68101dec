package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/proto"
)

// NATSClient submits feedback by publishing a FeedbackSubmission to
// proto.SubjectFeedbackSubmit through JetStream (so the submission is stored
// before anything else happens) and waits for the feedback service's answer on
// a private inbox named in the proto.HeaderReplyTo header.
type NATSClient struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	timeout time.Duration
}

// NewNATS returns a client publishing on nc. Timeout bounds the wait for the
// answer when the caller's context has no deadline (0 means 10 s).
func NewNATS(nc *nats.Conn, timeout time.Duration) (*NATSClient, error) {
	if nc == nil {
		return nil, fmt.Errorf("feedback nats client: connection is required")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("feedback nats client: %w", err)
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &NATSClient{nc: nc, js: js, timeout: timeout}, nil
}

// SubmitFeedback publishes one feedback and waits for the service's answer:
// a receipt, or a *Problem naming the rejected field. If the context ends
// before the answer arrives the submission is still stored in the stream and
// will be processed; the error then wraps the context's error.
func (c *NATSClient) SubmitFeedback(ctx context.Context, requestID, feedbackType string, opts ...Option) (*Receipt, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	sub := Submission(requestID, feedbackType, opts...)
	data, err := json.Marshal(sub)
	if err != nil {
		return nil, fmt.Errorf("encode feedback request_id=%s: %w", requestID, err)
	}
	inbox := c.nc.NewInbox()
	replies, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("subscribe feedback reply inbox: %w", err)
	}
	defer func() { _ = replies.Unsubscribe() }()
	m := nats.NewMsg(proto.SubjectFeedbackSubmit)
	m.Data = data
	m.Header.Set(proto.HeaderReplyTo, inbox)
	if requestID != "" {
		m.Header.Set(proto.HeaderRequestID, requestID)
	}
	if _, err := c.js.PublishMsg(ctx, m); err != nil {
		return nil, fmt.Errorf("publish feedback request_id=%s: %w", requestID, err)
	}
	reply, err := replies.NextMsgWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("wait for feedback answer request_id=%s (submission is stored and will be processed): %w", requestID, err)
	}
	return decodeReply(reply.Data)
}
