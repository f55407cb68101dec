package ingestor_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/trace"
)

// TestMetricsAndTrace checks the counters after accepted and rejected
// uploads, and that every event carries the upload's trace id (or a new
// trace when the upload sends no valid traceparent).
func TestMetricsAndTrace(t *testing.T) {
	env := bustest.Start(t)
	store, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := ingestor.DefaultConfig()
	cfg.HTTPAddr, cfg.PatientSalt = "", salt
	reg := prometheus.NewPedanticRegistry()
	svc, err := ingestor.New(cfg, ingestor.Deps{JS: env.JS, Store: store, Logger: testLogger(t), Now: func() time.Time { return testNow }, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	h := svc.Handler()
	tp := trace.New()
	post := func(body []byte, ct, traceparent string) int {
		req := httptest.NewRequest(http.MethodPost, "/v1/images", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		if traceparent != "" {
			req.Header.Set(proto.HeaderTraceParent, traceparent)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	const n = 3
	for i := range n {
		if code := post(jpegBytes(t, 128, 128, uint64(i+1)), "image/jpeg", tp.String()); code != http.StatusAccepted {
			t.Fatalf("upload %d: %d", i, code)
		}
	}
	if code := post(pngBytes(t, 128, 128, 9), "image/png", "00-garbage"); code != http.StatusAccepted {
		t.Fatalf("upload with a malformed traceparent: %d", code)
	}
	if code := post([]byte("not an image"), "image/jpeg", tp.String()); code < 400 {
		t.Fatalf("bad upload: %d", code)
	}
	if code := post(jpegBytes(t, 16, 16, 1), "image/jpeg", ""); code < 400 {
		t.Fatalf("tiny upload: %d", code)
	}

	if got := counterValue(t, reg, "hap_ingestor_images_ingested_total", proto.SourceUpload); got != n+1 {
		t.Errorf("ingested{upload} = %v, want %d", got, n+1)
	}
	if got := counterValue(t, reg, "hap_ingestor_rejected_total", proto.RejectFormat); got != 1 {
		t.Errorf("rejected{unsupported_format} = %v, want 1", got)
	}
	if got := counterValue(t, reg, "hap_ingestor_rejected_total", proto.RejectTooSmall); got != 1 {
		t.Errorf("rejected{too_small} = %v, want 1", got)
	}
	if got := counterValue(t, reg, "hap_ingestor_rejected_total", proto.RejectMissing); got != 0 {
		t.Errorf("rejected{missing} = %v, want 0 (present from the start)", got)
	}
	if got := histogramCount(t, reg, "hap_ingestor_ingest_duration_seconds"); got != n+3 {
		t.Errorf("ingest duration count %d, want %d", got, n+3)
	}

	msgs := events(t, env, proto.SubjectImageIngested)
	if len(msgs) != n+1 {
		t.Fatalf("%d ingested events, want %d", len(msgs), n+1)
	}
	spans := map[trace.SpanID]bool{}
	for i, m := range msgs {
		got, err := trace.Parse(m.Header.Get(proto.HeaderTraceParent))
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if i < n && got.TraceID != tp.TraceID {
			t.Errorf("event %d trace id %s, want the upload's %s", i, got.TraceID, tp.TraceID)
		}
		if i == n && got.TraceID == tp.TraceID {
			t.Errorf("upload without a valid traceparent joined the other trace")
		}
		// Without a traceparent, the trace id is derived from the request
		// id, as the feedback service derives it for a feedback without one.
		var ev proto.ImageIngested
		if i == n && (proto.Decode(m.Data, &ev) != nil || got.TraceID != trace.FromRequestID(ev.RequestID).TraceID) {
			t.Errorf("upload without a traceparent: trace id %s, want the one derived from request_id %q", got.TraceID, ev.RequestID)
		}
		if got.SpanID == tp.SpanID || spans[got.SpanID] {
			t.Errorf("event %d reuses span id %s", i, got.SpanID)
		}
		spans[got.SpanID] = true
	}
	rej := events(t, env, proto.SubjectImageRejected)
	if len(rej) != 2 {
		t.Fatalf("%d rejected events, want 2", len(rej))
	}
	if got, err := trace.Parse(rej[0].Header.Get(proto.HeaderTraceParent)); err != nil || got.TraceID != tp.TraceID {
		t.Errorf("rejection traceparent %v, %v: want trace id %s", got, err, tp.TraceID)
	}
}

// counterValue returns one series of a counter vector, by its only label
// value.
func counterValue(t *testing.T, reg *prometheus.Registry, name, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == value {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%q}", name, value)
	return 0
}

// histogramCount sums the sample counts of every series of a histogram.
func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}
