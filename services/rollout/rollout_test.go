package rollout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/registry"
	"github.com/healthcare-ai/platform/services/rollout"
	"github.com/healthcare-ai/platform/services/router"
)

type fixture struct {
	env *bustest.Env
	reg *registry.Registry
	exp jetstream.KeyValue
	svc *rollout.Service
}

func setup(t *testing.T, mode string) *fixture {
	t.Helper()
	env := bustest.Start(t)
	ctx := t.Context()
	reg, err := registry.Open(ctx, env.JS, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ name, alias string }{{"old-model", proto.ArmChampion}, {"new-model", proto.ArmChallenger}} {
		mv, err := reg.Register(ctx, m.name, []byte("onnx bytes of "+m.name), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.SetAlias(ctx, m.alias, mv.Name, mv.Version, "test"); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := router.OpenExperiments(ctx, env.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := router.EnsureExperiment(ctx, kv, proto.Experiment{Name: "pneumonia", Mode: proto.ModeSplit, Split: proto.Split{Champion: 50, Challenger: 50}, UpdatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{env: env, reg: reg, exp: kv}
	f.svc = f.start(t, mode)
	return f
}

func (f *fixture) start(t *testing.T, mode string) *rollout.Service {
	t.Helper()
	cfg := rollout.DefaultConfig()
	cfg.Mode = mode
	cfg.KeepTestingEvery = time.Hour
	svc, err := rollout.New(cfg, rollout.Deps{JS: f.env.JS, Registry: f.reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	<-svc.Ready()
	return svc
}

func (f *fixture) experiment(t *testing.T) proto.Experiment {
	t.Helper()
	exp, _, err := router.GetExperiment(t.Context(), f.exp, "pneumonia")
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// arm builds an arm's metrics with n labelled predictions at the given
// accuracy (half pneumonia, errors split evenly between the classes).
func arm(name string, n int, acc float64) proto.ModelMetrics {
	wrong := n - int(acc*float64(n)+0.5)
	pos, neg := n/2, n-n/2
	fn, fp := wrong/2, wrong-wrong/2
	m := proto.ModelMetrics{Arm: name, Predictions: n, Served: n, Feedback: n,
		Confusion: proto.Confusion{TP: pos - fn, FN: fn, TN: neg - fp, FP: fp}}
	m.Fill()
	return m
}

func snapshot(epoch, n int, champAcc, challAcc float64) proto.MetricsSnapshot {
	return proto.MetricsSnapshot{SnapshotID: fmt.Sprint(epoch, "-", n), Experiment: "pneumonia", Mode: proto.ModeSplit,
		Epochs: []proto.EpochMetrics{{Epoch: epoch, Models: []proto.ModelMetrics{arm(proto.ArmChampion, n, champAcc), arm(proto.ArmChallenger, n, challAcc)}}}}
}

// feed looks at growing counts of the current epoch until the split changes
// or the state shows a pending recommendation; it returns the labelled count
// per arm at that point (0 if nothing happened within max).
func (f *fixture) feed(t *testing.T, champAcc, challAcc float64, max int) int {
	t.Helper()
	start := f.experiment(t)
	for n := 20; n <= max; n += 20 {
		if err := f.svc.Look(t.Context(), snapshot(start.Epoch, n, champAcc, challAcc)); err != nil {
			t.Fatal(err)
		}
		st, err := f.svc.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.Experiment.Epoch != start.Epoch || st.State.Pending != nil {
			return n
		}
	}
	return 0
}

func decisions(t *testing.T, f *fixture) []proto.DecisionEvent {
	t.Helper()
	st, err := f.env.JS.Stream(t.Context(), proto.StreamDecisions)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []proto.DecisionEvent
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		var ev proto.DecisionEvent
		if err := proto.Decode(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func TestAutomaticRolloutPromotesThroughTheStages(t *testing.T) {
	f := setup(t, proto.RolloutAutomatic)
	ctx := t.Context()
	want := []proto.Split{{Champion: 30, Challenger: 70}, {Champion: 10, Challenger: 90}, {Champion: 100, Challenger: 0}}
	for i, w := range want {
		before := f.experiment(t)
		n := f.feed(t, 0.85, 0.95, 2000)
		if n == 0 {
			t.Fatalf("stage %d: no decision within 2000 labelled per arm", i)
		}
		after := f.experiment(t)
		if after.Split != w {
			t.Fatalf("stage %d: split %s after PROMOTE, want %s", i, after.Split, w)
		}
		if after.Epoch <= before.Epoch {
			t.Fatalf("stage %d: epoch %d -> %d: a new stage must test on its own data", i, before.Epoch, after.Epoch)
		}
		t.Logf("stage %d -> split %s after %d labelled per arm", i, after.Split, n)
	}
	champ, err := f.reg.Resolve(ctx, proto.ArmChampion)
	if err != nil || champ.Name != "new-model" {
		t.Fatalf("champion alias -> %v, %v; want new-model", champ, err)
	}
	old, err := f.reg.Get(ctx, "old-model", 1)
	if err != nil || old.Status != registry.StatusArchived {
		t.Fatalf("old champion %+v, %v: want archived (never deleted)", old, err)
	}
	// With the challenger at 0 nothing is under test: further looks do nothing.
	if err := f.svc.Look(ctx, snapshot(f.experiment(t).Epoch, 500, 0.85, 0.5)); err != nil {
		t.Fatal(err)
	}
	if got := f.experiment(t).Split; got != (proto.Split{Champion: 100}) {
		t.Fatalf("split %s after a look with nothing under test", got)
	}
	evs := decisions(t, f)
	var executed int
	for _, ev := range evs {
		if ev.Action == proto.ActionPromote && ev.Outcome == proto.OutcomeExecuted {
			executed++
			if ev.PValue > 0.05 || ev.Actor != "rollout-controller" || ev.ChampionN == 0 || len(ev.Details) == 0 {
				t.Errorf("promotion event without its numbers: %+v", ev)
			}
		}
	}
	if executed != 3 {
		t.Fatalf("%d executed promotions in the audit log, want 3: %+v", executed, evs)
	}
	st, _ := f.svc.Status(ctx)
	if len(st.State.History) != 3 || st.State.History[2].Promoted == "" || st.State.History[2].Archived == "" {
		t.Fatalf("history %+v", st.State.History)
	}
}

func TestApprovalModeWaitsForAPerson(t *testing.T) {
	f := setup(t, proto.RolloutApproval)
	srv := httptest.NewServer(f.svc.Handler())
	defer srv.Close()
	post := func(path, body string) (int, string) {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, body := post("/v1/rollout/pneumonia/approve", `{"by":"dr-lead"}`); code != http.StatusConflict {
		t.Fatalf("approve with nothing pending: %d %s", code, body)
	}
	if n := f.feed(t, 0.85, 0.95, 2000); n == 0 {
		t.Fatal("no recommendation")
	}
	if got := f.experiment(t).Split; got != (proto.Split{Champion: 50, Challenger: 50}) {
		t.Fatalf("approval mode moved the split on its own to %s", got)
	}
	if code, body := post("/v1/rollout/pneumonia/approve", `{"reason":"no name"}`); code != http.StatusBadRequest || !strings.Contains(body, "by") {
		t.Fatalf("approve without a name: %d %s", code, body)
	}
	code, body := post("/v1/rollout/pneumonia/approve", `{"by":"dr-lead","reason":"reviewed the cases"}`)
	if code != http.StatusOK {
		t.Fatalf("approve: %d %s", code, body)
	}
	var ev proto.DecisionEvent
	if err := json.Unmarshal([]byte(body), &ev); err != nil || ev.Outcome != proto.OutcomeApproved || ev.Actor != "dr-lead" {
		t.Fatalf("approval event %s (%v)", body, err)
	}
	if got := f.experiment(t).Split; got != (proto.Split{Champion: 30, Challenger: 70}) {
		t.Fatalf("split %s after approval, want 30/70", got)
	}
	// The next stage: reject; the engine keeps testing and does not ask again.
	if n := f.feed(t, 0.85, 0.95, 2000); n == 0 {
		t.Fatal("no recommendation at stage 2")
	}
	if code, body := post("/v1/rollout/pneumonia/reject", `{"by":"dr-lead","reason":"wait for the audit"}`); code != http.StatusOK {
		t.Fatalf("reject: %d %s", code, body)
	}
	epoch := f.experiment(t).Epoch
	if err := f.svc.Look(t.Context(), snapshot(epoch, 2100, 0.85, 0.95)); err != nil {
		t.Fatal(err)
	}
	st, _ := f.svc.Status(t.Context())
	if st.State.Pending != nil || f.experiment(t).Split != (proto.Split{Champion: 30, Challenger: 70}) {
		t.Fatalf("after a rejection: pending %+v, split %s", st.State.Pending, f.experiment(t).Split)
	}
	if code, _ := post("/v1/rollout/other/approve", `{"by":"x"}`); code != http.StatusNotFound {
		t.Fatalf("unknown experiment: %d", code)
	}
}

func TestRollbackIsImmediateEvenInApprovalMode(t *testing.T) {
	f := setup(t, proto.RolloutApproval)
	if n := f.feed(t, 0.85, 0.70, 2000); n == 0 {
		t.Fatal("a clearly worse challenger was not rolled back")
	}
	if got := f.experiment(t).Split; got != (proto.Split{Champion: 100, Challenger: 0}) {
		t.Fatalf("split %s after ROLLBACK, want 100/0", got)
	}
	evs := decisions(t, f)
	last := evs[len(evs)-1]
	if last.Action != proto.ActionRollback || last.Outcome != proto.OutcomeExecuted || last.SplitAfter.Challenger != 0 {
		t.Fatalf("last decision %+v", last)
	}
	champ, _ := f.reg.Resolve(t.Context(), proto.ArmChampion)
	if champ.Name != "old-model" {
		t.Fatalf("a rollback moved the champion alias to %s", champ)
	}
}

func TestEqualModelsKeepTesting(t *testing.T) {
	f := setup(t, proto.RolloutAutomatic)
	if n := f.feed(t, 0.85, 0.85, 600); n != 0 {
		t.Fatalf("A/A: decided after %d labelled per arm", n)
	}
	st, err := f.svc.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.State.Last == nil || st.State.Last.Action != "KEEP_TESTING" || st.State.Looks != 30 {
		t.Fatalf("state after A/A looks: %+v", st.State)
	}
	// A restarted controller continues the same sequential test.
	svc2 := f.start(t, proto.RolloutAutomatic)
	f.svc = svc2
	if err := svc2.Look(t.Context(), snapshot(f.experiment(t).Epoch, 620, 0.85, 0.85)); err != nil {
		t.Fatal(err)
	}
	st, _ = svc2.Status(t.Context())
	if st.State.Looks != 31 {
		t.Fatalf("looks %d after a restart, want 31 (state kept)", st.State.Looks)
	}
	// A KEEP_TESTING is published once, not at every look.
	var keep int
	for _, ev := range decisions(t, f) {
		if ev.Action == proto.ActionKeepTesting {
			keep++
		}
	}
	if keep != 1 {
		t.Fatalf("%d KEEP_TESTING events for one epoch within KeepTestingEvery, want 1", keep)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, mutate := range map[string]func(*rollout.Config){
		"mode":       func(c *rollout.Config) { c.Mode = "yolo" },
		"last stage": func(c *rollout.Config) { c.Stages = []int{50, 90} },
		"order":      func(c *rollout.Config) { c.Stages = []int{70, 50, 100} },
		"alpha":      func(c *rollout.Config) { c.Decision.Alpha = 2 },
	} {
		cfg := rollout.DefaultConfig()
		mutate(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted a bad config", name)
		}
	}
}

func TestManualOverridesAreAudited(t *testing.T) {
	f := setup(t, proto.RolloutApproval)
	ctx := t.Context()
	if _, err := f.svc.ManualPromote(ctx, "dr-lead", ""); err == nil || !strings.Contains(err.Error(), "reason") {
		t.Fatalf("manual promote without a reason: %v", err)
	}
	ev, err := f.svc.ManualPromote(ctx, "dr-lead", "board decision 2026-11-28")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Test != "manual" || ev.Actor != "dr-lead" || ev.SplitAfter != (proto.Split{Champion: 30, Challenger: 70}) {
		t.Fatalf("manual promotion event %+v", ev)
	}
	ev, err = f.svc.ManualRollback(ctx, "dr-lead", "complaint from radiology")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.experiment(t).Split; got != (proto.Split{Champion: 100}) || ev.Action != proto.ActionRollback {
		t.Fatalf("after a manual rollback: split %s, event %+v", got, ev)
	}
	if _, err := f.svc.ManualRollback(ctx, "dr-lead", "again"); err == nil {
		t.Fatal("rollback with no challenger under test accepted")
	}
	var manual int
	for _, e := range decisions(t, f) {
		if e.Test == "manual" {
			manual++
		}
	}
	if manual != 2 {
		t.Fatalf("%d manual decisions in the audit log, want 2", manual)
	}
}
