package predictor

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/healthcare-ai/platform/proto"
)

// metrics are the predictor's Prometheus metrics; a nil *metrics records
// nothing (Deps.Metrics unset).
type metrics struct {
	latency *prometheus.HistogramVec
	results *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	return &metrics{
		latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hap_predictor_inference_latency_seconds",
			Help:    "Latency of successful inferences (the result's latency_ms: image fetch, preprocessing and model), by arm, model and version.",
			Buckets: []float64{.005, .01, .025, .05, .075, .1, .15, .25, .5, 1, 2.5, 5},
		}, []string{"arm", "model", "version"}),
		results: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hap_predictor_results_total",
			Help: "Inference results published, by arm, model and status (ok, error).",
		}, []string{"arm", "model", "status"}),
	}
}

// published counts one published result and observes its latency.
func (m *metrics) published(res *proto.InferenceResult) {
	if m == nil {
		return
	}
	m.results.WithLabelValues(res.Arm, res.ModelName, res.Status).Inc()
	if res.Status == proto.StatusOK {
		m.latency.WithLabelValues(res.Arm, res.ModelName, res.ModelVersion).Observe(res.LatencyMS / 1000)
	}
}
