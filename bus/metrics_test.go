package bus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/trace"
)

func TestLagCollector(t *testing.T) {
	env := bustest.Start(t)
	ctx := t.Context()
	const n = 7
	for i := range n {
		if _, err := bus.Publish(ctx, env.JS, proto.SubjectFeedbackRecorded, feedback(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"lag-test", "other"} {
		if _, err := env.JS.CreateOrUpdateConsumer(ctx, proto.StreamFeedback, jetstream.ConsumerConfig{
			Durable: name, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: proto.SubjectFeedbackRecorded,
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Deliver 2 without acknowledging them.
	cons, err := env.JS.Consumer(ctx, proto.StreamFeedback, "lag-test")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for range batch.Messages() {
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(bus.NewLagCollector(env.JS, bus.LagOptions{Durables: []string{"lag-test"}}))
	want := `
# HELP hap_consumer_ack_pending_messages Messages delivered to the consumer and not yet acknowledged.
# TYPE hap_consumer_ack_pending_messages gauge
hap_consumer_ack_pending_messages{consumer="lag-test",stream="FEEDBACK"} 2
# HELP hap_consumer_pending_messages Messages of the stream matching the consumer's filter not yet delivered to it (queue depth).
# TYPE hap_consumer_pending_messages gauge
hap_consumer_pending_messages{consumer="lag-test",stream="FEEDBACK"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), bus.MetricConsumerPending, bus.MetricConsumerAckPending); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	streams := 0
	for _, mf := range mfs {
		if mf.GetName() != bus.MetricStreamMessages {
			continue
		}
		for _, m := range mf.GetMetric() {
			streams++
			if m.GetLabel()[0].GetValue() == proto.StreamFeedback && m.GetGauge().GetValue() != n {
				t.Errorf("FEEDBACK holds %v messages, want %d", m.GetGauge().GetValue(), n)
			}
		}
	}
	if streams != len(proto.AllStreams) {
		t.Errorf("%d streams reported, want %d", streams, len(proto.AllStreams))
	}
}

func TestPublishWithHeaders(t *testing.T) {
	env := bustest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tp := trace.New()
	hdr := bus.TraceHeader(tp)
	hdr.Set(proto.HeaderMsgID, "must-not-win")
	if _, err := bus.PublishWith(ctx, env.JS, proto.SubjectFeedbackRecorded, feedback(1), hdr); err != nil {
		t.Fatal(err)
	}
	s, err := env.JS.Stream(ctx, proto.StreamFeedback)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, proto.SubjectFeedbackRecorded)
	if err != nil {
		t.Fatal(err)
	}
	if got := bus.TraceOf(m.Header, "r1"); got != tp {
		t.Fatalf("traceparent %v, want %v", got, tp)
	}
	if got := m.Header.Get(proto.HeaderMsgID); got != feedback(1).MsgID() {
		t.Fatalf("Nats-Msg-Id %q: the event's id must win", got)
	}
	if got := bus.TraceOf(nil, "r1"); got != trace.FromRequestID("r1") {
		t.Fatalf("TraceOf without a header = %v, want the derived one", got)
	}
}
