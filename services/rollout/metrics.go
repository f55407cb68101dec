package rollout

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/healthcare-ai/platform/proto"
)

// metrics are the rollout controller's Prometheus metrics; a nil *metrics
// records nothing (Deps.Metrics unset).
type metrics struct {
	decisions *prometheus.CounterVec
	share     *prometheus.GaugeVec
	stage     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	return &metrics{
		decisions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hap_rollout_decisions_total",
			Help: "Decision events published on decisions.<experiment>, by experiment, decision (PROMOTE, KEEP_TESTING, ROLLBACK) and outcome (none, recommended, executed, approved, rejected).",
		}, []string{"experiment", "decision", "outcome"}),
		share: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hap_rollout_challenger_share_ratio",
			Help: "Share of the traffic the experiment routes to the challenger (0 to 1), as last seen or set by the controller.",
		}, []string{"experiment"}),
		stage: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hap_rollout_stage",
			Help: "Rollout stage of the experiment (index into the configured challenger shares), as last seen or set by the controller.",
		}, []string{"experiment"}),
	}
}

// observe records the experiment's current split and stage.
func (m *metrics) observe(exp proto.Experiment) {
	if m != nil {
		m.set(exp.Name, exp.Split, exp.Stage)
	}
}

// decided counts a published decision and records the split and stage
// after it.
func (m *metrics) decided(ev proto.DecisionEvent) {
	if m == nil {
		return
	}
	m.decisions.WithLabelValues(ev.Experiment, ev.Action, ev.Outcome).Inc()
	m.set(ev.Experiment, ev.SplitAfter, ev.StageAfter)
}

func (m *metrics) set(experiment string, split proto.Split, stage int) {
	if total := split.Champion + split.Challenger; total > 0 {
		m.share.WithLabelValues(experiment).Set(float64(split.Challenger) / float64(total))
	}
	m.stage.WithLabelValues(experiment).Set(float64(stage))
}
