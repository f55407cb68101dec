package evaluator_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/evaluator"
)

// TestMetrics joins results and feedback (one feedback before its result)
// and checks the join state size, the pending feedback gauge and the events
// counter, then restarts and checks that the size is read back.
func TestMetrics(t *testing.T) {
	env := bustest.Start(t)
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	run := func(reg prometheus.Registerer) (stop func()) {
		svc, err := evaluator.New(testConfig(), evaluator.Deps{JS: env.JS, Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- svc.Run(ctx) }()
		select {
		case <-svc.Ready():
		case <-time.After(10 * time.Second):
			t.Fatal("evaluator not ready")
		}
		return func() {
			cancel()
			if err := <-errc; err != nil {
				t.Error(err)
			}
		}
	}
	reg := prometheus.NewPedanticRegistry()
	stop := run(reg)
	publishResult(t, env.JS, result("r1", "pneumonia", proto.ArmChampion, proto.LabelNormal, true, at))
	publishResult(t, env.JS, result("r2", "pneumonia", proto.ArmChampion, proto.LabelNormal, true, at))
	publishResult(t, env.JS, result("r2", "pneumonia", proto.ArmChallenger, proto.LabelNormal, false, at))
	publishFeedback(t, env.JS, fb("f1", "r1", proto.FeedbackTrueNegative, "", at), "")
	publishFeedback(t, env.JS, fb("f3", "r3", proto.FeedbackTrueNegative, "", at), "") // no result yet
	waitDrained(t, env.JS)
	want := `
# HELP hap_evaluator_events_processed_total Events joined (acknowledged), by kind: result, feedback.
# TYPE hap_evaluator_events_processed_total counter
hap_evaluator_events_processed_total{kind="feedback"} 2
hap_evaluator_events_processed_total{kind="result"} 3
# HELP hap_evaluator_join_requests Requests whose join state (results and feedback) the evaluator holds in KV evaluator-join.
# TYPE hap_evaluator_join_requests gauge
hap_evaluator_join_requests 3
# HELP hap_evaluator_pending_feedback Requests with feedback but no inference result yet (joined when the result comes).
# TYPE hap_evaluator_pending_feedback gauge
hap_evaluator_pending_feedback 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	publishResult(t, env.JS, result("r3", "pneumonia", proto.ArmChampion, proto.LabelNormal, true, at))
	waitDrained(t, env.JS)
	if got := testutil.ToFloat64(gaugeOf(t, reg, "hap_evaluator_pending_feedback")); got != 0 {
		t.Errorf("pending feedback %v after its result, want 0", got)
	}
	stop()

	reg2 := prometheus.NewPedanticRegistry()
	stop = run(reg2)
	defer stop()
	if got := testutil.ToFloat64(gaugeOf(t, reg2, "hap_evaluator_join_requests")); got != 3 {
		t.Errorf("join state after restart %v, want 3", got)
	}
}

// gaugeOf returns a gauge holding the value of an unlabelled gauge family.
func gaugeOf(t *testing.T, reg *prometheus.Registry, name string) prometheus.Gauge {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
			g.Set(mf.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("no gauge %s", name)
	return nil
}
