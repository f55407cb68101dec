package bus

import (
	"context"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthcare-ai/platform/proto"
)

// Metric names of the LagCollector.
const (
	MetricConsumerPending    = "hap_consumer_pending_messages"
	MetricConsumerAckPending = "hap_consumer_ack_pending_messages"
	MetricConsumerRedeliver  = "hap_consumer_redelivered_messages"
	MetricStreamMessages     = "hap_stream_messages"
	MetricStreamBytes        = "hap_stream_bytes"
	MetricStreamUp           = "hap_stream_info_up"
)

// LagCollector is a prometheus.Collector that reads, on every scrape, the
// JetStream state of the platform streams (proto.AllStreams) and of their
// durable consumers: queue depth (messages not yet delivered), messages
// delivered and not acknowledged, and each stream's message count. A stream
// whose information cannot be read in time reports hap_stream_info_up 0 and
// nothing else.
type LagCollector struct {
	js       jetstream.JetStream
	timeout  time.Duration
	durables []string

	pending, ackPending, redelivered *prometheus.Desc
	msgs, bytes, up                  *prometheus.Desc
}

// LagOptions configure a LagCollector.
type LagOptions struct {
	// Timeout bounds the reads of one scrape (default 2s).
	Timeout time.Duration
	// Durables, when not nil, limits the consumers reported to these names
	// (a service binary reports its own); nil reports every durable consumer.
	Durables []string
}

// NewLagCollector returns a collector over js; register it with
// prometheus.Registerer.MustRegister.
func NewLagCollector(js jetstream.JetStream, o LagOptions) *LagCollector {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	cl := []string{"stream", "consumer"}
	sl := []string{"stream"}
	return &LagCollector{
		js: js, timeout: o.Timeout, durables: o.Durables,
		pending:     prometheus.NewDesc(MetricConsumerPending, "Messages of the stream matching the consumer's filter not yet delivered to it (queue depth).", cl, nil),
		ackPending:  prometheus.NewDesc(MetricConsumerAckPending, "Messages delivered to the consumer and not yet acknowledged.", cl, nil),
		redelivered: prometheus.NewDesc(MetricConsumerRedeliver, "Messages delivered more than once and not yet acknowledged.", cl, nil),
		msgs:        prometheus.NewDesc(MetricStreamMessages, "Messages held by the stream.", sl, nil),
		bytes:       prometheus.NewDesc(MetricStreamBytes, "Bytes held by the stream.", sl, nil),
		up:          prometheus.NewDesc(MetricStreamUp, "1 when the stream's information was read at this scrape, else 0.", sl, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pending, c.ackPending, c.redelivered, c.msgs, c.bytes, c.up} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	for _, name := range proto.AllStreams {
		st, err := c.js.Stream(ctx, name)
		if err != nil {
			ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0, name)
			continue
		}
		info := st.CachedInfo()
		ok := true
		lister := st.ListConsumers(ctx)
		var consumers []*jetstream.ConsumerInfo
		for ci := range lister.Info() {
			if ci.Config.Durable == "" || (c.durables != nil && !slices.Contains(c.durables, ci.Name)) {
				continue
			}
			consumers = append(consumers, ci)
		}
		if lister.Err() != nil {
			ok = false
		}
		up := 0.0
		if ok {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, name)
		ch <- prometheus.MustNewConstMetric(c.msgs, prometheus.GaugeValue, float64(info.State.Msgs), name)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(info.State.Bytes), name)
		for _, ci := range consumers {
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(ci.NumPending), name, ci.Name)
			ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(ci.NumAckPending), name, ci.Name)
			ch <- prometheus.MustNewConstMetric(c.redelivered, prometheus.GaugeValue, float64(ci.NumRedelivered), name, ci.Name)
		}
	}
}
