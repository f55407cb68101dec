package tablewriter

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the table writer's Prometheus metrics; a nil *metrics records
// nothing (Deps.Metrics unset).
type metrics struct {
	rows     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	return &metrics{
		rows: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hap_tablewriter_rows_written_total",
			Help: "Rows committed to the lakehouse table (parts and checkpoint written) by this process, by table.",
		}, []string{"table"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hap_tablewriter_flush_duration_seconds",
			Help:    "Time to flush one batch (parts, checkpoint, acks; store retries included), by table.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms .. ~40 s
		}, []string{"table"}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hap_tablewriter_flush_errors_total",
			Help: "Failed store operations of a flush (each is retried until it succeeds), by table.",
		}, []string{"table"}),
	}
}

// table starts the series of one table at zero.
func (m *metrics) table(name string) *metrics {
	if m != nil {
		m.rows.WithLabelValues(name)
		m.duration.WithLabelValues(name)
		m.errors.WithLabelValues(name)
	}
	return m
}

// flushed counts the rows of a committed flush started at start.
func (m *metrics) flushed(table string, rows int, start time.Time) {
	if m != nil {
		m.rows.WithLabelValues(table).Add(float64(rows))
		m.duration.WithLabelValues(table).Observe(time.Since(start).Seconds())
	}
}

// flushError counts a failed store operation.
func (m *metrics) flushError(table string) {
	if m != nil {
		m.errors.WithLabelValues(table).Inc()
	}
}
