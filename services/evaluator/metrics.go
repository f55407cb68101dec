package evaluator

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Kinds of events the evaluator joins (label kind of
// hap_evaluator_events_processed_total).
const (
	eventResult   = "result"
	eventFeedback = "feedback"
)

// metrics are the evaluator's Prometheus metrics; a nil *metrics records
// nothing (Deps.Metrics unset).
type metrics struct {
	held      prometheus.Gauge
	processed *prometheus.CounterVec
}

// newMetrics registers the metrics; the pending feedback gauge reads s's
// aggregates at each scrape.
func newMetrics(reg prometheus.Registerer, s *Service) *metrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	m := &metrics{
		held: f.NewGauge(prometheus.GaugeOpts{
			Name: "hap_evaluator_join_requests",
			Help: "Requests whose join state (results and feedback) the evaluator holds in KV evaluator-join.",
		}),
		processed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hap_evaluator_events_processed_total",
			Help: "Events joined (acknowledged), by kind: result, feedback.",
		}, []string{"kind"}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hap_evaluator_pending_feedback",
		Help: "Requests with feedback but no inference result yet (joined when the result comes).",
	}, func() float64 {
		pending, _ := s.agg.totals()
		return float64(pending)
	})
	m.processed.WithLabelValues(eventResult)
	m.processed.WithLabelValues(eventFeedback)
	return m
}

// loaded sets the join state size once the stored state is read.
func (m *metrics) loaded(n int) {
	if m != nil {
		m.held.Set(float64(n))
	}
}

// stateWritten counts a new request in the join state when created is set.
func (m *metrics) stateWritten(created bool) {
	if m != nil && created {
		m.held.Inc()
	}
}

// processedEvent counts one joined event.
func (m *metrics) processedEvent(kind string) {
	if m != nil {
		m.processed.WithLabelValues(kind).Inc()
	}
}
