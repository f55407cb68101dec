package drift

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/healthcare-ai/platform/proto"
)

// metrics are the drift monitor's Prometheus metrics; a nil *metrics records
// nothing (Deps.Metrics unset).
type metrics struct {
	value  *prometheus.GaugeVec
	firing *prometheus.GaugeVec
}

var signalLabels = []string{"experiment", "arm", "model", "version", "signal"}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	return &metrics{
		value: promauto.With(reg).NewGaugeVec(prometheus.GaugeOpts{
			Name: "hap_drift_signal_value",
			Help: "Latest value of a drift signal per model version: input_psi (PSI of the input histogram), input_mean_ks (KS statistic D of the per-image means), positive_rate (share predicted PNEUMONIA in the window).",
		}, signalLabels),
		firing: promauto.With(reg).NewGaugeVec(prometheus.GaugeOpts{
			Name: "hap_drift_alert_firing",
			Help: "1 while a drift signal's alert is firing (published on alerts.<experiment>.drift), else 0.",
		}, signalLabels),
	}
}

// report records the signals of a published report.
func (m *metrics) report(rep *proto.DriftReport) {
	if m == nil {
		return
	}
	for _, sig := range rep.Signals {
		if sig.Level == proto.DriftLevelInsufficient {
			continue
		}
		m.value.WithLabelValues(rep.Experiment, rep.Arm, rep.ModelName, rep.ModelVersion, sig.Name).Set(sig.Value)
	}
}

// alert records a published alert state change.
func (m *metrics) alert(a *proto.DriftAlert) {
	if m == nil {
		return
	}
	v := 0.0
	if a.Status == proto.AlertFiring {
		v = 1
	}
	m.firing.WithLabelValues(a.Experiment, a.Arm, a.ModelName, a.ModelVersion, a.Signal).Set(v)
}
