package router

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/healthcare-ai/platform/proto"
)

// metrics are the router's Prometheus metrics; a nil *metrics records nothing
// (Deps.Metrics unset).
type metrics struct {
	routed *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	return &metrics{
		routed: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "hap_router_requests_routed_total",
			Help: "Inference requests published, by experiment, arm and mode (split, shadow).",
		}, []string{"experiment", "arm", "mode"}),
	}
}

// routedRequest counts one published request (not a duplicate of one
// published before).
func (m *metrics) routedRequest(r *proto.InferenceRequest, duplicate bool) {
	if m != nil && !duplicate {
		m.routed.WithLabelValues(r.Experiment, r.Arm, r.Mode).Inc()
	}
}
