package feedback

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/healthcare-ai/platform/services/feedback/client"
	"github.com/healthcare-ai/platform/trace"
)

// Outcomes of a submission (label outcome of hap_feedback_submissions_total).
const (
	OutcomeRecorded  = "recorded"  // a new FeedbackRecorded event
	OutcomeDuplicate = "duplicate" // the same feedback_id was recorded before
	OutcomeRejected  = "rejected"  // invalid: 4xx, or FeedbackRejected on NATS
	OutcomeFailed    = "failed"    // temporary failure (NATS unavailable): retry
)

// metrics are the feedback service's Prometheus metrics; a nil *metrics
// records nothing (Deps.Metrics unset).
type metrics struct {
	submissions *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		submissions: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "hap_feedback_submissions_total",
			Help: "Feedback submissions (HTTP and NATS), by outcome: recorded, duplicate, rejected, failed.",
		}, []string{"outcome"}),
	}
	for _, o := range []string{OutcomeRecorded, OutcomeDuplicate, OutcomeRejected, OutcomeFailed} {
		m.submissions.WithLabelValues(o)
	}
	return m
}

// submitted counts the outcome of one submission.
func (m *metrics) submitted(rec *client.Receipt, err error) {
	if m == nil {
		return
	}
	outcome := OutcomeRecorded
	var e *Error
	switch {
	case errors.As(err, &e) && e.Permanent():
		outcome = OutcomeRejected
	case err != nil:
		outcome = OutcomeFailed
	case rec != nil && rec.Duplicate:
		outcome = OutcomeDuplicate
	}
	m.submissions.WithLabelValues(outcome).Inc()
}

// traceFor is the traceparent of the events of a submission: a child of the
// one ctx carries (the HTTP or NATS header traceparent, when valid), else of
// the one derived from the request id, so the feedback joins the trace of
// its request either way.
func traceFor(ctx context.Context, requestID string) trace.Parent {
	if p, ok := trace.FromContext(ctx); ok {
		return p.Child()
	}
	return trace.FromRequestID(requestID).Child()
}

// withTrace returns ctx carrying the traceparent value v when it is valid.
func withTrace(ctx context.Context, v string) context.Context {
	if p, err := trace.Parse(v); err == nil {
		return trace.NewContext(ctx, p)
	}
	return ctx
}
