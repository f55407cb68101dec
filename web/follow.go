package web

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/proto"
)

// feed is one subject the hub follows.
type feed struct {
	subject string
	// start chooses where an ordered consumer on the subject's stream starts,
	// given the stream's state.
	start func(jetstream.StreamState) jetstream.OrderedConsumerConfig
}

// feeds are the hub's subjects. The metrics subjects replay what METRICS
// keeps (100 messages per subject); decisions the newest DecisionBacklog
// messages; xray.rejected the last RejectedSince; alerts the newest Alerts
// per experiment's worth. A subject that no stream captures (alerts.> before
// its stream exists) is followed with a plain subscription, from now on.
func (s *Server) feeds() []feed {
	fromSeq := func(back int) func(jetstream.StreamState) jetstream.OrderedConsumerConfig {
		return func(st jetstream.StreamState) jetstream.OrderedConsumerConfig {
			if st.LastSeq <= uint64(back) || st.LastSeq-uint64(back) < st.FirstSeq {
				return jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
			}
			return jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: st.LastSeq - uint64(back) + 1}
		}
	}
	return []feed{
		{subject: proto.MetricsAll, start: func(jetstream.StreamState) jetstream.OrderedConsumerConfig {
			return jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
		}},
		{subject: proto.DecisionsAll, start: fromSeq(s.cfg.DecisionBacklog)},
		{subject: "alerts.>", start: fromSeq(s.cfg.Alerts * s.cfg.MaxExperiments)},
		{subject: proto.SubjectImageRejected, start: func(jetstream.StreamState) jetstream.OrderedConsumerConfig {
			since := time.Now().Add(-s.cfg.RejectedSince)
			return jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since}
		}},
	}
}

// follow starts one consumer (or subscription) per feed; stop ends them.
func (s *Server) follow(ctx context.Context) (func(), error) {
	var stops []func()
	stopAll := func() {
		for _, f := range stops {
			f()
		}
	}
	for _, f := range s.feeds() {
		stop, err := s.followOne(ctx, f)
		if err != nil {
			stopAll()
			return nil, err
		}
		stops = append(stops, stop)
	}
	return stopAll, nil
}

func (s *Server) followOne(ctx context.Context, f feed) (func(), error) {
	name, err := s.js.StreamNameBySubject(ctx, f.subject)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		sub, err := s.conn.Subscribe(f.subject, func(m *nats.Msg) { s.hub.handle(m.Subject, m.Data) })
		if err != nil {
			return nil, fmt.Errorf("web: subscribe %s: %w", f.subject, err)
		}
		s.log.Info("following subject without a stream", "subject", f.subject)
		return func() { _ = sub.Unsubscribe() }, nil
	}
	if err != nil {
		return nil, fmt.Errorf("web: find the stream of %s: %w", f.subject, err)
	}
	stream, err := s.js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("web: stream %s: %w", name, err)
	}
	cfg := f.start(stream.CachedInfo().State)
	cfg.FilterSubjects = []string{f.subject}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("web: follow %s on stream %s: %w", f.subject, name, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { s.hub.handle(m.Subject(), m.Data()) })
	if err != nil {
		return nil, fmt.Errorf("web: follow %s on stream %s: %w", f.subject, name, err)
	}
	return cc.Stop, nil
}
