package rollout_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/rollout"
)

// TestMetrics rolls a worse challenger back and checks that every published
// decision is counted by decision and outcome and that the challenger share
// and stage gauges follow the split.
func TestMetrics(t *testing.T) {
	f := setup(t, proto.RolloutApproval)
	reg := prometheus.NewPedanticRegistry()
	cfg := rollout.DefaultConfig()
	cfg.Mode = proto.RolloutApproval
	svc, err := rollout.New(cfg, rollout.Deps{JS: f.env.JS, Registry: f.reg, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	<-svc.Ready()
	if err := svc.Look(t.Context(), snapshot(0, 20, 0.85, 0.85)); err != nil {
		t.Fatal(err)
	}
	if got := gathered(t, reg)["hap_rollout_challenger_share_ratio"]; got != 0.5 {
		t.Errorf("challenger share %v at 50/50, want 0.5", got)
	}
	f.svc = svc
	if n := f.feed(t, 0.85, 0.70, 2000); n == 0 {
		t.Fatal("a clearly worse challenger was not rolled back")
	}
	g := gathered(t, reg)
	if g["hap_rollout_decisions_total/ROLLBACK/executed"] != 1 {
		t.Errorf("decisions %v: want one executed ROLLBACK", g)
	}
	if g["hap_rollout_decisions_total"] != float64(len(decisions(t, f))) {
		t.Errorf("%v decisions counted, %d published", g["hap_rollout_decisions_total"], len(decisions(t, f)))
	}
	if g["hap_rollout_challenger_share_ratio"] != 0 || g["hap_rollout_stage"] != 0 {
		t.Errorf("share %v stage %v after the rollback, want 0 and 0", g["hap_rollout_challenger_share_ratio"], g["hap_rollout_stage"])
	}
}

// gathered sums each family, and each decisions series by
// "name/decision/outcome".
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[mf.GetName()] += v
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["decision"] != "" {
				out[mf.GetName()+"/"+l["decision"]+"/"+l["outcome"]] += v
			}
		}
	}
	return out
}
