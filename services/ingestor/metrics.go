package ingestor

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/healthcare-ai/platform/proto"
)

// metrics are the ingestor's Prometheus metrics; a nil *metrics records
// nothing (Deps.Metrics unset).
type metrics struct {
	ingested *prometheus.CounterVec
	rejected *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// rejectCodes are the reason codes of ImageRejected, each counted from 0.
var rejectCodes = []string{
	proto.RejectTooLarge, proto.RejectTooSmall, proto.RejectUndecodable,
	proto.RejectFormat, proto.RejectMissing, proto.RejectInvalid,
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	m := &metrics{
		ingested: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hap_ingestor_images_ingested_total",
			Help: "Images stored and announced on xray.ingested (re-ingestions of an announced request not counted), by source.",
		}, []string{"source"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hap_ingestor_rejected_total",
			Help: "Inputs rejected with an xray.rejected event, by reason code (proto.Reject*).",
		}, []string{"reason"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hap_ingestor_ingest_duration_seconds",
			Help:    "Time to validate, store and announce (or reject) one input, by source.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12), // 5 ms .. ~10 s
		}, []string{"source"}),
	}
	for _, src := range []string{proto.SourceUpload, proto.SourceFolder, proto.SourcePACS} {
		m.ingested.WithLabelValues(src)
	}
	for _, code := range rejectCodes {
		m.rejected.WithLabelValues(code)
	}
	return m
}

// ingestedImage counts an announced image (not a duplicate announcement).
func (m *metrics) ingestedImage(source string, duplicate bool) {
	if m != nil && !duplicate {
		m.ingested.WithLabelValues(source).Inc()
	}
}

// rejectedInput counts a rejection (not a duplicate announcement).
func (m *metrics) rejectedInput(code string, duplicate bool) {
	if m != nil && !duplicate {
		m.rejected.WithLabelValues(code).Inc()
	}
}

// since observes the duration of one ingestion started at start.
func (m *metrics) since(source string, start time.Time) {
	if m != nil {
		m.duration.WithLabelValues(source).Observe(time.Since(start).Seconds())
	}
}
