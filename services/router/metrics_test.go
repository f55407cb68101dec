package router_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/router"
	"github.com/healthcare-ai/platform/trace"
)

// TestRouterMetricsAndTrace routes images in shadow mode and checks the
// routed counter per arm and that every request keeps the trace id of its
// image's event (or the one derived from the request id when the event has
// no traceparent) with a span id of its own.
func TestRouterMetricsAndTrace(t *testing.T) {
	env := bustest.Start(t)
	reg := prometheus.NewPedanticRegistry()
	cfg := testConfig()
	cfg.DefaultMode = proto.ModeShadow
	svc, err := router.New(cfg, router.Deps{JS: env.JS, Logger: testLogger(t), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	const n = 6
	parents := map[string]trace.Parent{}
	for i := range n {
		ev := ingested(i, "")
		var hdr map[string][]string
		if i%2 == 0 {
			p := trace.New()
			parents[ev.RequestID] = p
			hdr = bus.TraceHeader(p)
		} else {
			parents[ev.RequestID] = trace.FromRequestID(ev.RequestID)
		}
		if _, err := bus.PublishWith(t.Context(), env.JS, proto.SubjectImageIngested, ev, hdr); err != nil {
			t.Fatal(err)
		}
	}
	reqs := requests(t, env, 2*n)
	want := fmt.Sprintf(`
# HELP hap_router_requests_routed_total Inference requests published, by experiment, arm and mode (split, shadow).
# TYPE hap_router_requests_routed_total counter
hap_router_requests_routed_total{arm="challenger",experiment="pneumonia",mode="shadow"} %d
hap_router_requests_routed_total{arm="champion",experiment="pneumonia",mode="shadow"} %d
`, n, n)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	s, err := env.JS.Stream(t.Context(), proto.StreamInference)
	if err != nil {
		t.Fatal(err)
	}
	spans := map[trace.SpanID]bool{}
	for seq := uint64(1); seq <= uint64(len(reqs)); seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		id := m.Header.Get(proto.HeaderRequestID)
		got, err := trace.Parse(m.Header.Get(proto.HeaderTraceParent))
		if err != nil {
			t.Fatalf("request %s: %v", id, err)
		}
		if got.TraceID != parents[id].TraceID {
			t.Errorf("request %s: trace id %s, want %s", id, got.TraceID, parents[id].TraceID)
		}
		if got.SpanID == parents[id].SpanID || spans[got.SpanID] {
			t.Errorf("request %s: span id %s reused", id, got.SpanID)
		}
		spans[got.SpanID] = true
	}
}
