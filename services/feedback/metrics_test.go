package feedback_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/feedback"
	"github.com/healthcare-ai/platform/services/feedback/client"
	"github.com/healthcare-ai/platform/trace"
)

// TestMetricsAndTrace counts recorded, duplicate and rejected submissions and
// checks the traceparent of the recorded events: the request's trace id when
// the HTTP request carries a valid traceparent, else the one derived from the
// request id.
func TestMetricsAndTrace(t *testing.T) {
	env := bustest.Start(t)
	cfg := feedback.DefaultConfig()
	cfg.HTTPAddr = ""
	cfg.Now = func() time.Time { return fixedNow }
	reg := prometheus.NewPedanticRegistry()
	svc, err := feedback.New(cfg, feedback.Deps{JS: env.JS, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	send := func(body, traceparent string) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+client.Path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if traceparent != "" {
			req.Header.Set(proto.HeaderTraceParent, traceparent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tp := trace.New()
	if code := send(`{"request_id":"req-1","feedback_type":"true-positive","radiologist_id":"dr-a"}`, tp.String()); code != http.StatusAccepted {
		t.Fatalf("first: %d", code)
	}
	m := lastMsg(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRecorded)
	got, err := trace.Parse(m.Header.Get(proto.HeaderTraceParent))
	if err != nil || got.TraceID != tp.TraceID || got.SpanID == tp.SpanID {
		t.Fatalf("recorded traceparent %v (%v), want trace id %s with a new span", got, err, tp.TraceID)
	}
	if code := send(`{"request_id":"req-1","feedback_type":"true-positive","radiologist_id":"dr-a"}`, ""); code != http.StatusAccepted {
		t.Fatalf("duplicate: %d", code)
	}
	if code := send(`{"request_id":"req-2","feedback_type":"true-negative","radiologist_id":"dr-a"}`, "00-not-valid"); code != http.StatusAccepted {
		t.Fatalf("second: %d", code)
	}
	m = lastMsg(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRecorded)
	got, err = trace.Parse(m.Header.Get(proto.HeaderTraceParent))
	if err != nil || got.TraceID != trace.FromRequestID("req-2").TraceID {
		t.Fatalf("recorded traceparent %v (%v), want the trace id derived from req-2", got, err)
	}
	if code := send(`{"request_id":"req-3","feedback_type":"maybe"}`, ""); code != http.StatusBadRequest {
		t.Fatalf("invalid: %d", code)
	}
	want := `
# HELP hap_feedback_submissions_total Feedback submissions (HTTP and NATS), by outcome: recorded, duplicate, rejected, failed.
# TYPE hap_feedback_submissions_total counter
hap_feedback_submissions_total{outcome="duplicate"} 1
hap_feedback_submissions_total{outcome="failed"} 0
hap_feedback_submissions_total{outcome="recorded"} 2
hap_feedback_submissions_total{outcome="rejected"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
