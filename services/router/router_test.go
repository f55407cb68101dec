package router_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/router"
)

type harness struct {
	env  *bustest.Env
	svc  *router.Service
	kv   jetstream.KeyValue
	done chan error
	stop context.CancelFunc
}

func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// start runs a router on env until the test ends.
func start(t *testing.T, env *bustest.Env, cfg router.Config) *harness {
	t.Helper()
	svc, err := router.New(cfg, router.Deps{JS: env.JS, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	h := &harness{env: env, svc: svc, done: make(chan error, 1), stop: cancel}
	go func() { h.done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-h.done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if _, ok := svc.Experiment(); !ok {
			return errors.New("router has not loaded its experiment")
		}
		return nil
	})
	h.kv, err = env.JS.KeyValue(t.Context(), proto.BucketExperiments)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func testConfig() router.Config {
	cfg := router.DefaultConfig()
	cfg.RetryDelay = 20 * time.Millisecond
	return cfg
}

// waitApplied waits until the running router applies split and mode.
func (h *harness) waitApplied(t *testing.T, split proto.Split, mode string) {
	t.Helper()
	bustest.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		exp, _ := h.svc.Experiment()
		if exp.Split != split || exp.Mode != mode {
			return fmt.Errorf("router applies %s %s, want %s %s", exp.Mode, exp.Split, mode, split)
		}
		return nil
	})
}

// waitEpoch waits until the running router applies the experiment's epoch n.
func (h *harness) waitEpoch(t *testing.T, n int) {
	t.Helper()
	bustest.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if exp, _ := h.svc.Experiment(); exp.Epoch != n {
			return fmt.Errorf("router applies epoch %d, want %d", exp.Epoch, n)
		}
		return nil
	})
}

func ingested(i int, patientKey string) *proto.ImageIngested {
	sha := fmt.Sprintf("%064x", i)
	return &proto.ImageIngested{
		RequestID:       fmt.Sprintf("req-%04d", i),
		ClientRequestID: fmt.Sprintf("client-%d", i),
		ImageID:         sha,
		Source:          proto.SourceUpload,
		Image: proto.ImageRef{Key: "bronze/images/date=2026-11-28/" + sha + ".jpeg", URI: "file:///x/" + sha + ".jpeg",
			SHA256: sha, SizeBytes: 1000, Format: "jpeg", Width: 128, Height: 128},
		PatientKey:   patientKey,
		DatasetLabel: proto.LabelNormal,
		IngestedAt:   time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
	}
}

func publishIngested(t *testing.T, env *bustest.Env, from, to int, patientKey func(int) string) {
	t.Helper()
	for i := from; i < to; i++ {
		pk := ""
		if patientKey != nil {
			pk = patientKey(i)
		}
		if _, err := bus.Publish(t.Context(), env.JS, proto.SubjectImageIngested, ingested(i, pk)); err != nil {
			t.Fatal(err)
		}
	}
}

// requests waits until the INFERENCE stream holds exactly n requests and
// returns them in stream order.
func requests(t *testing.T, env *bustest.Env, n int) []proto.InferenceRequest {
	t.Helper()
	ctx := t.Context()
	s, err := env.JS.Stream(ctx, proto.StreamInference)
	if err != nil {
		t.Fatal(err)
	}
	var state jetstream.StreamState
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		state = info.State
		if state.Msgs != uint64(n) {
			return fmt.Errorf("INFERENCE holds %d requests, want %d", state.Msgs, n)
		}
		return nil
	})
	var out []proto.InferenceRequest
	for seq := state.FirstSeq; seq <= state.LastSeq && n > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m.Subject, "inference.request.") {
			t.Fatalf("unexpected subject %s", m.Subject)
		}
		var r proto.InferenceRequest
		if err := proto.Decode(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		if m.Subject != proto.InferenceRequestSubject(r.Arm) {
			t.Fatalf("request for arm %s published on %s", r.Arm, m.Subject)
		}
		if m.Header.Get(proto.HeaderMsgID) != r.MsgID() {
			t.Fatalf("request %s published without its Nats-Msg-Id", r.RequestID)
		}
		out = append(out, r)
	}
	return out
}

func TestRouterCreatesDefaultExperiment(t *testing.T) {
	env := bustest.Start(t)
	h := start(t, env, testConfig())
	exp, _, err := router.GetExperiment(t.Context(), h.kv, "pneumonia")
	if err != nil {
		t.Fatal(err)
	}
	if exp.Mode != proto.ModeSplit || exp.Split != (proto.Split{Champion: 50, Challenger: 50}) {
		t.Fatalf("default experiment = %+v, want split mode 50/50", exp)
	}
}

func TestRouterNeverOverwritesExistingExperiment(t *testing.T) {
	env := bustest.Start(t)
	ctx := t.Context()
	kv, err := router.OpenExperiments(ctx, env.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	existing := proto.Experiment{Name: "pneumonia", Mode: proto.ModeShadow, Split: proto.Split{Champion: 80, Challenger: 20}, UpdatedBy: "operator"}
	if _, created, err := router.EnsureExperiment(ctx, kv, existing); err != nil || !created {
		t.Fatalf("EnsureExperiment = %v, %v", created, err)
	}
	h := start(t, env, testConfig())
	h.waitApplied(t, existing.Split, proto.ModeShadow)
	exp, _, err := router.GetExperiment(ctx, kv, "pneumonia")
	if err != nil || exp.UpdatedBy != "operator" || exp.Split != existing.Split {
		t.Fatalf("after router start: %+v, %v", exp, err)
	}
}

func TestRouterAppliesSplitChangesLive(t *testing.T) {
	env := bustest.Start(t)
	h := start(t, env, testConfig())
	ctx := t.Context()

	all := proto.Split{Champion: 100, Challenger: 0}
	if _, err := router.SetSplit(ctx, h.kv, "pneumonia", all, "test", "all to champion"); err != nil {
		t.Fatal(err)
	}
	h.waitApplied(t, all, proto.ModeSplit)
	publishIngested(t, env, 0, 30, nil)
	first := requests(t, env, 30)

	none := proto.Split{Champion: 0, Challenger: 100}
	if _, err := router.SetSplit(ctx, h.kv, "pneumonia", none, "test", "all to challenger"); err != nil {
		t.Fatal(err)
	}
	h.waitApplied(t, none, proto.ModeSplit)
	publishIngested(t, env, 30, 60, nil)
	got := requests(t, env, 60)

	seen := map[string]bool{}
	for i, r := range got {
		wantArm, wantSplit := proto.ArmChampion, all
		if i >= len(first) {
			wantArm, wantSplit = proto.ArmChallenger, none
		}
		if r.Arm != wantArm || r.ConfiguredSplit != wantSplit || !r.Served || r.Mode != proto.ModeSplit || r.Experiment != "pneumonia" {
			t.Fatalf("request %d = arm %s split %s served %v mode %s; want arm %s split %s served, split mode",
				i, r.Arm, r.ConfiguredSplit, r.Served, r.Mode, wantArm, wantSplit)
		}
		if seen[r.RequestID] {
			t.Fatalf("request %s routed twice", r.RequestID)
		}
		seen[r.RequestID] = true
	}
	// Fields are carried from the ingested event.
	want := ingested(0, "")
	i := slices.IndexFunc(got, func(r proto.InferenceRequest) bool { return r.RequestID == want.RequestID })
	if i < 0 {
		t.Fatalf("no request for %s", want.RequestID)
	}
	r := got[i]
	if r.RequestID != want.RequestID || r.ClientRequestID != want.ClientRequestID || r.Image != want.Image ||
		r.DatasetLabel != want.DatasetLabel || !r.IngestedAt.Equal(want.IngestedAt) || r.RoutedAt.IsZero() || r.Source != want.Source {
		t.Fatalf("request %+v does not carry the ingested event %+v", r, want)
	}
}

func TestRouterSplitsAndKeepsPatientsOnOneArm(t *testing.T) {
	env := bustest.Start(t)
	start(t, env, testConfig()) // 50/50
	const n = 200
	patient := func(i int) string {
		if i%2 == 0 {
			return fmt.Sprintf("patient-%d", i%10) // 5 patients with 20 images each
		}
		return ""
	}
	publishIngested(t, env, 0, n, patient)
	got := requests(t, env, n)
	arms := map[string]int{}
	patientArm := map[string]string{}
	for _, r := range got {
		arms[r.Arm]++
		if want := router.Arm("pneumonia", r.ConfiguredSplit, r.RequestID, r.PatientKey); r.Arm != want {
			t.Fatalf("request %s routed to %s, Arm says %s", r.RequestID, r.Arm, want)
		}
		if r.PatientKey == "" {
			continue
		}
		if prev, ok := patientArm[r.PatientKey]; ok && prev != r.Arm {
			t.Fatalf("patient %s routed to both %s and %s", r.PatientKey, prev, r.Arm)
		}
		patientArm[r.PatientKey] = r.Arm
	}
	if arms[proto.ArmChampion] == 0 || arms[proto.ArmChallenger] == 0 {
		t.Fatalf("50/50 split routed %v", arms)
	}
}

func TestRouterShadowModeScoresBothArms(t *testing.T) {
	env := bustest.Start(t)
	h := start(t, env, testConfig())
	ctx := t.Context()
	exp, err := router.SetMode(ctx, h.kv, "pneumonia", proto.ModeShadow, "test", "shadow the challenger")
	if err != nil {
		t.Fatal(err)
	}
	h.waitApplied(t, exp.Split, proto.ModeShadow)
	const n = 25
	publishIngested(t, env, 0, n, nil)
	got := requests(t, env, 2*n)
	type key struct {
		id, arm string
	}
	seen := map[key]proto.InferenceRequest{}
	for _, r := range got {
		seen[key{r.RequestID, r.Arm}] = r
		if r.Mode != proto.ModeShadow || r.ConfiguredSplit != exp.Split {
			t.Fatalf("shadow request records mode %s split %s", r.Mode, r.ConfiguredSplit)
		}
	}
	for i := range n {
		id := ingested(i, "").RequestID
		c, okC := seen[key{id, proto.ArmChampion}]
		s, okS := seen[key{id, proto.ArmChallenger}]
		if !okC || !okS {
			t.Fatalf("request %s: champion %v challenger %v, want both", id, okC, okS)
		}
		if !c.Served || s.Served {
			t.Fatalf("request %s: champion served=%v challenger served=%v, want true/false", id, c.Served, s.Served)
		}
	}
}

func TestRouterDeadLettersPoisonAndKeepsRouting(t *testing.T) {
	env := bustest.Start(t)
	start(t, env, testConfig())
	ctx := t.Context()
	if _, err := env.JS.Publish(ctx, proto.SubjectImageIngested, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	missingKey, _ := json.Marshal(map[string]any{"request_id": "r-x", "image": map[string]any{"sha256": "ab"}})
	if _, err := env.JS.Publish(ctx, proto.SubjectImageIngested, missingKey); err != nil {
		t.Fatal(err)
	}
	publishIngested(t, env, 0, 5, nil)
	requests(t, env, 5)
	dl, err := env.JS.Stream(ctx, proto.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		info, err := dl.Info(ctx, jetstream.WithSubjectFilter(proto.DeadLetterSubject(proto.ConsumerRouter)))
		if err != nil {
			return err
		}
		if info.State.Msgs != 2 {
			return fmt.Errorf("%d dead letters, want 2", info.State.Msgs)
		}
		return nil
	})
	// Both poison messages are recorded with a reason; the one with a missing
	// field names it. (Workers settle them in any order.)
	var reasons []string
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := dl.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		reasons = append(reasons, m.Header.Get(proto.HeaderDeadReason))
	}
	if !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, "image.key: required") }) {
		t.Errorf("dead letter reasons %q: none names the missing field image.key", reasons)
	}
}

func TestRouterKeepsLastConfigOnInvalidUpdate(t *testing.T) {
	env := bustest.Start(t)
	h := start(t, env, testConfig())
	ctx := t.Context()
	if _, err := h.kv.Put(ctx, "pneumonia", []byte(`{"name":"pneumonia","mode":"split","split":{"champion":90,"challenger":90}}`)); err != nil {
		t.Fatal(err)
	}
	// A valid change afterwards is applied; the invalid one never was.
	if _, err := h.kv.Put(ctx, "pneumonia", []byte(`{"name":"pneumonia","mode":"split","split":{"champion":30,"challenger":70}}`)); err != nil {
		t.Fatal(err)
	}
	h.waitApplied(t, proto.Split{Champion: 30, Challenger: 70}, proto.ModeSplit)
}

func TestSetSplitValidates(t *testing.T) {
	env := bustest.Start(t)
	ctx := t.Context()
	kv, err := router.OpenExperiments(ctx, env.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := router.SetSplit(ctx, kv, "pneumonia", proto.Split{Champion: 60, Challenger: 40}, "op", ""); !errors.Is(err, router.ErrExperimentNotFound) {
		t.Fatalf("SetSplit on a missing experiment: %v, want ErrExperimentNotFound", err)
	}
	if _, _, err := router.EnsureExperiment(ctx, kv, proto.Experiment{Name: "pneumonia", Mode: proto.ModeSplit, Split: proto.Split{Champion: 50, Challenger: 50}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		split   proto.Split
		by      string
		wantMsg string
	}{
		{proto.Split{Champion: 60, Challenger: 30}, "op", "must sum to 100"},
		{proto.Split{Champion: -10, Challenger: 110}, "op", "must not be negative"},
		{proto.Split{Champion: 60, Challenger: 40}, "", "updated_by: required"},
	} {
		if _, err := router.SetSplit(ctx, kv, "pneumonia", tc.split, tc.by, ""); err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("SetSplit(%s, by %q) = %v, want an error containing %q", tc.split, tc.by, err, tc.wantMsg)
		}
	}
	exp, err := router.SetSplit(ctx, kv, "pneumonia", proto.Split{Champion: 70, Challenger: 30}, "decision-engine", "challenger worse")
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := router.GetExperiment(ctx, kv, "pneumonia")
	if got.Split != exp.Split || got.UpdatedBy != "decision-engine" || got.Reason != "challenger worse" || got.UpdatedAt.IsZero() {
		t.Fatalf("stored %+v", got)
	}
	if _, err := router.SetMode(ctx, kv, "pneumonia", "canary", "op", ""); err == nil || !strings.Contains(err.Error(), `mode "canary"`) {
		t.Errorf("SetMode(canary) = %v", err)
	}
}

func TestConfigValidateNamesFields(t *testing.T) {
	cfg := router.DefaultConfig()
	cfg.Experiment = "bad name"
	cfg.Workers = 0
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), `experiment "bad name"`) || !strings.Contains(err.Error(), "workers 0") {
		t.Fatalf("Validate = %v", err)
	}
	cfg = router.DefaultConfig()
	cfg.DefaultSplit = proto.Split{Champion: 10, Challenger: 10}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "must sum to 100") {
		t.Fatalf("Validate = %v", err)
	}
	if _, err := router.New(router.DefaultConfig(), router.Deps{}); err == nil {
		t.Fatal("New without JetStream succeeded")
	}
}

func TestEpochAdvancesOnEveryChange(t *testing.T) {
	env := bustest.Start(t)
	ctx := t.Context()
	kv, err := router.OpenExperiments(ctx, env.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := router.EnsureExperiment(ctx, kv, proto.Experiment{Name: "pneumonia", Mode: proto.ModeSplit, Split: proto.Split{Champion: 50, Challenger: 50}}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		change func() (proto.Experiment, error)
		want   int
	}{
		{"new split", func() (proto.Experiment, error) {
			return router.SetSplit(ctx, kv, "pneumonia", proto.Split{Champion: 30, Challenger: 70}, "op", "stage 1")
		}, 1},
		{"same split again", func() (proto.Experiment, error) {
			return router.SetSplit(ctx, kv, "pneumonia", proto.Split{Champion: 30, Challenger: 70}, "op", "only a new reason")
		}, 1},
		{"new mode", func() (proto.Experiment, error) {
			return router.SetMode(ctx, kv, "pneumonia", proto.ModeShadow, "op", "shadow")
		}, 2},
		{"new model", func() (proto.Experiment, error) {
			return router.StartEpoch(ctx, kv, "pneumonia", "registry", "challenger model replaced")
		}, 3},
		{"new stage", func() (proto.Experiment, error) {
			return router.UpdateExperiment(ctx, kv, "pneumonia", "controller", "hold", func(e *proto.Experiment) error {
				e.Stage++
				return nil
			})
		}, 4},
		{"writer sets the epoch itself", func() (proto.Experiment, error) {
			return router.UpdateExperiment(ctx, kv, "pneumonia", "controller", "stage 2", func(e *proto.Experiment) error {
				e.Split, e.Mode, e.Stage, e.Epoch = proto.Split{Champion: 10, Challenger: 90}, proto.ModeSplit, 2, 10
				return nil
			})
		}, 10},
	}
	for _, st := range steps {
		exp, err := st.change()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		stored, _, err := router.GetExperiment(ctx, kv, "pneumonia")
		if err != nil {
			t.Fatal(err)
		}
		if exp.Epoch != st.want || stored.Epoch != st.want {
			t.Fatalf("%s: epoch %d (stored %d), want %d", st.name, exp.Epoch, stored.Epoch, st.want)
		}
	}
	_, err = router.UpdateExperiment(ctx, kv, "pneumonia", "controller", "", func(e *proto.Experiment) error {
		e.Epoch = 9
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "epoch 9: must not go back") {
		t.Fatalf("lowering the epoch: %v", err)
	}
	if exp, _, _ := router.GetExperiment(ctx, kv, "pneumonia"); exp.Epoch != 10 {
		t.Fatalf("epoch %d after a refused change, want 10", exp.Epoch)
	}
}

func TestRouterStampsTheEpoch(t *testing.T) {
	env := bustest.Start(t)
	h := start(t, env, testConfig())
	ctx := t.Context()
	publishIngested(t, env, 0, 5, nil)
	requests(t, env, 5)

	exp, err := router.SetSplit(ctx, h.kv, "pneumonia", proto.Split{Champion: 100, Challenger: 0}, "test", "all to champion")
	if err != nil {
		t.Fatal(err)
	}
	h.waitEpoch(t, 1)
	publishIngested(t, env, 5, 10, nil)
	requests(t, env, 10)

	if exp, err = router.SetMode(ctx, h.kv, "pneumonia", proto.ModeShadow, "test", "shadow"); err != nil {
		t.Fatal(err)
	}
	h.waitEpoch(t, 2)
	publishIngested(t, env, 10, 15, nil)
	got := requests(t, env, 20)
	for _, r := range got {
		i, _ := strconv.Atoi(strings.TrimPrefix(r.RequestID, "req-"))
		want := i / 5 // five requests per epoch
		if r.Epoch != want {
			t.Errorf("request %s to %s: epoch %d, want %d", r.RequestID, r.Arm, r.Epoch, want)
		}
	}
	if exp.Epoch != 2 {
		t.Errorf("SetMode returned epoch %d, want 2", exp.Epoch)
	}
}
