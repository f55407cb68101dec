package evaluator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/evaluator"
)

const (
	P = proto.LabelPneumonia
	N = proto.LabelNormal
)

func TestResultsThenFeedback(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	ev := start(t, env)
	publishResult(t, env.JS, result("a1", "exp1", proto.ArmChampion, P, true, t0))
	publishResult(t, env.JS, result("a2", "exp1", proto.ArmChallenger, N, true, t0))
	publishResult(t, env.JS, result("a3", "exp1", proto.ArmChampion, P, true, t0))
	waitCounts(t, ev.svc, "exp1", proto.ArmChampion, counts{Predictions: 2, Served: 2})
	waitCounts(t, ev.svc, "exp1", proto.ArmChallenger, counts{Predictions: 1, Served: 1})

	publishFeedback(t, env.JS, fb("f1", "a1", proto.FeedbackTruePositive, "", t0.Add(time.Hour)), "")
	publishFeedback(t, env.JS, fb("f2", "a2", proto.FeedbackTrueNegative, "", t0.Add(time.Hour)), "")
	publishFeedback(t, env.JS, fb("f3", "a3", proto.FeedbackFalsePositive, "", t0.Add(48*time.Hour)), "")
	snap := waitCounts(t, ev.svc, "exp1", proto.ArmChampion, counts{Predictions: 2, Served: 2, Feedback: 2, Confusion: proto.Confusion{TP: 1, FP: 1}})
	waitCounts(t, ev.svc, "exp1", proto.ArmChallenger, counts{Predictions: 1, Served: 1, Feedback: 1, Confusion: proto.Confusion{TN: 1}})

	m := arm(snap, proto.ArmChampion)
	if !near(m.Accuracy, 0.5) || !near(m.PPV, 0.5) || !near(m.Sensitivity, 1) || !near(m.Coverage, 1) ||
		!near(m.TrafficActual, 2.0/3) || !near(m.TrafficConfigured, 0.5) || m.ModelName != "pneumonia-champion" || m.ModelVersion != "1" {
		t.Errorf("champion metrics %+v", m)
	}
	if snap.Mode != proto.ModeSplit || snap.Split != (proto.Split{Champion: 50, Challenger: 50}) || snap.PendingFeedback != 0 ||
		!strings.HasPrefix(snap.SnapshotID, "exp1-") || snap.SchemaVersion != proto.SchemaVersion {
		t.Errorf("snapshot %+v", snap)
	}
}

func TestFeedbackBeforeResultIsPending(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	ev := start(t, env)
	// Feedback days before the (delayed) result: kept, not dropped.
	publishFeedback(t, env.JS, fb("f-early", "late-1", proto.FeedbackFalseNegative, "", t0), "")
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if o := ev.svc.Overview(); o.PendingFeedback != 1 {
			return fmt.Errorf("pending %d", o.PendingFeedback)
		}
		return nil
	})
	view, err := ev.svc.Request(t.Context(), "late-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(view.Feedback) != 1 || len(view.Results) != 0 || view.Verdict.GroundTruth != P || view.Key != "r.late-1" {
		t.Fatalf("state %+v", view)
	}
	publishResult(t, env.JS, result("late-1", "exp1", proto.ArmChallenger, N, true, t0.Add(72*time.Hour)))
	snap := waitCounts(t, ev.svc, "exp1", proto.ArmChallenger, counts{Predictions: 1, Served: 1, Feedback: 1, Confusion: proto.Confusion{FN: 1}})
	if snap.PendingFeedback != 0 {
		t.Errorf("pending %d after the result arrived", snap.PendingFeedback)
	}
}

func TestDuplicateFeedbackCountsOnce(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	ev := start(t, env)
	publishResult(t, env.JS, result("d1", "exp1", proto.ArmChampion, P, true, t0))
	f := fb("f-dup", "d1", proto.FeedbackTruePositive, "", t0.Add(time.Hour))
	publishFeedback(t, env.JS, f, "")
	publishFeedback(t, env.JS, f, "") // de-duplicated by the stream
	publishFeedback(t, env.JS, f, "feedback:f-dup:again")
	later := *f
	later.RecordedAt = t0.Add(5 * time.Hour) // a re-recording of the same id
	publishFeedback(t, env.JS, &later, "feedback:f-dup:third")
	waitDrained(t, env.JS)
	waitCounts(t, ev.svc, "exp1", proto.ArmChampion, counts{Predictions: 1, Served: 1, Feedback: 1, Confusion: proto.Confusion{TP: 1}})
	view, err := ev.svc.Request(t.Context(), "d1")
	if err != nil {
		t.Fatal(err)
	}
	if len(view.Feedback) != 1 || !view.Feedback["f-dup"].RecordedAt.Equal(f.RecordedAt) {
		t.Errorf("feedback kept: %+v", view.Feedback)
	}
	// The result delivered again changes nothing either.
	publishResult(t, env.JS, result("d1", "exp1", proto.ArmChampion, P, true, t0))
	waitDrained(t, env.JS)
	waitCounts(t, ev.svc, "exp1", proto.ArmChampion, counts{Predictions: 1, Served: 1, Feedback: 1, Confusion: proto.Confusion{TP: 1}})
}

func TestConflictingFeedbackLatestWins(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	ev := start(t, env)
	publishResult(t, env.JS, result("c1", "exp1", proto.ArmChampion, P, true, t0))
	// Arrive newest first: recorded_at, not arrival, decides.
	publishFeedback(t, env.JS, fb("f-new", "c1", proto.FeedbackTruePositive, "", t0.Add(2*time.Hour)), "")
	publishFeedback(t, env.JS, fb("f-old", "c1", proto.FeedbackFalsePositive, "", t0.Add(time.Hour)), "")
	waitDrained(t, env.JS)
	waitCounts(t, ev.svc, "exp1", proto.ArmChampion, counts{Predictions: 1, Served: 1, Feedback: 1, Confusion: proto.Confusion{TP: 1}})
	// A later correction replaces the contribution instead of adding one.
	publishFeedback(t, env.JS, fb("f-newest", "c1", "", N, t0.Add(3*time.Hour)), "")
	snap := waitCounts(t, ev.svc, "exp1", proto.ArmChampion, counts{Predictions: 1, Served: 1, Feedback: 1, Confusion: proto.Confusion{FP: 1}})
	if snap.Adjudication != 0 {
		t.Errorf("adjudication %d under the latest policy", snap.Adjudication)
	}
	view, err := ev.svc.Request(t.Context(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	if v := view.Verdict; v.GroundTruth != N || v.FeedbackID != "f-newest" || !v.Conflicting || v.NeedsAdjudication {
		t.Errorf("verdict %+v", v)
	}
}

func TestConflictingFeedbackAdjudication(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	ev := start(t, env, func(c *evaluator.Config) { c.Policy = evaluator.PolicyAdjudicate })
	publishResult(t, env.JS, result("j1", "exp1", proto.ArmChampion, P, true, t0))
	publishResult(t, env.JS, result("j2", "exp1", proto.ArmChampion, P, true, t0))
	publishFeedback(t, env.JS, fb("j1-a", "j1", proto.FeedbackTruePositive, "", t0.Add(time.Hour)), "")
	publishFeedback(t, env.JS, fb("j1-b", "j1", proto.FeedbackFalsePositive, "", t0.Add(2*time.Hour)), "")
	// Two readers agreeing: counted once.
	publishFeedback(t, env.JS, fb("j2-a", "j2", proto.FeedbackTruePositive, "", t0.Add(time.Hour)), "")
	publishFeedback(t, env.JS, fb("j2-b", "j2", "", P, t0.Add(2*time.Hour)), "")
	snap := waitCounts(t, ev.svc, "exp1", proto.ArmChampion, counts{Predictions: 2, Served: 2, Feedback: 1, Confusion: proto.Confusion{TP: 1}})
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if snap = ev.svc.Snapshot("exp1"); snap.Adjudication != 1 {
			return fmt.Errorf("adjudication %d", snap.Adjudication)
		}
		return nil
	})
	if m := arm(snap, proto.ArmChampion); !near(m.Coverage, 0.5) {
		t.Errorf("coverage %v, want 0.5 (the flagged request is excluded)", m.Coverage)
	}
	// The adjudicator resolves it.
	adj := fb("j1-adj", "j1", "", N, t0.Add(24*time.Hour))
	adj.Source = evaluator.SourceAdjudication
	publishFeedback(t, env.JS, adj, "")
	snap = waitCounts(t, ev.svc, "exp1", proto.ArmChampion, counts{Predictions: 2, Served: 2, Feedback: 2, Confusion: proto.Confusion{TP: 1, FP: 1}})
	if snap.Adjudication != 0 {
		t.Errorf("adjudication %d after resolution", snap.Adjudication)
	}
}

func TestShadowAndErrors(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	ev := start(t, env)
	const exp = "shadow-exp"
	shadow := func(r *proto.InferenceResult) *proto.InferenceResult {
		r.ConfiguredSplit = proto.Split{Champion: 100, Challenger: 0}
		return r
	}
	publishResult(t, env.JS, shadow(result("s1", exp, proto.ArmChampion, P, true, t0)))
	publishResult(t, env.JS, shadow(result("s1", exp, proto.ArmChallenger, N, false, t0)))
	publishResult(t, env.JS, shadow(result("s2", exp, proto.ArmChampion, "", true, t0))) // error
	publishResult(t, env.JS, shadow(result("s2", exp, proto.ArmChallenger, P, false, t0)))
	publishResult(t, env.JS, shadow(result("s3", exp, proto.ArmChampion, P, true, t0)))
	publishResult(t, env.JS, shadow(result("s3", exp, proto.ArmChallenger, N, false, t0)))
	publishFeedback(t, env.JS, fb("s1-f", "s1", proto.FeedbackTruePositive, "", t0.Add(time.Hour)), "")
	// Says the model predicted NORMAL, but the served label was PNEUMONIA.
	publishFeedback(t, env.JS, fb("s3-f", "s3", proto.FeedbackTrueNegative, "", t0.Add(time.Hour)), "")
	// Feedback on the errored request: no prediction to join on the champion.
	publishFeedback(t, env.JS, fb("s2-f", "s2", "", P, t0.Add(time.Hour)), "")

	snap := waitCounts(t, ev.svc, exp, proto.ArmChampion, counts{Predictions: 2, Errors: 1, Served: 2, Feedback: 2, Inconsistent: 1, Confusion: proto.Confusion{TP: 1, FP: 1}})
	snap = waitCounts(t, ev.svc, exp, proto.ArmChallenger, counts{Predictions: 3, Served: 0, Feedback: 3, Confusion: proto.Confusion{FN: 1, TP: 1, TN: 1}})
	champ, chal := arm(snap, proto.ArmChampion), arm(snap, proto.ArmChallenger)
	if snap.Mode != proto.ModeShadow || !near(champ.TrafficActual, 1) || !near(chal.TrafficActual, 0) ||
		!near(champ.TrafficConfigured, 1) || !near(chal.TrafficConfigured, 0) {
		t.Errorf("mode %q, traffic champion %v/%v challenger %v/%v", snap.Mode, champ.TrafficActual, champ.TrafficConfigured, chal.TrafficActual, chal.TrafficConfigured)
	}
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	notRunning, err := evaluator.New(testConfig(), evaluator.Deps{JS: env.JS})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	notRunning.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/metrics", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("before ready: status %d", rec.Code)
	}

	ev := start(t, env, func(c *evaluator.Config) { c.HTTPAddr = "127.0.0.1:0" })
	publishResult(t, env.JS, result("h1", "exp1", proto.ArmChampion, P, true, t0))
	publishResult(t, env.JS, result("weird/id with spaces", "exp1", proto.ArmChampion, N, true, t0))
	publishFeedback(t, env.JS, fb("h1-f", "h1", proto.FeedbackTruePositive, "", t0.Add(time.Hour)), "")
	waitCounts(t, ev.svc, "exp1", proto.ArmChampion, counts{Predictions: 2, Served: 2, Feedback: 1, Confusion: proto.Confusion{TP: 1}})
	base := "http://" + ev.svc.Addr().String()

	get := func(path string, wantStatus int, v any) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != wantStatus {
			t.Fatalf("GET %s: status %d, want %d", path, resp.StatusCode, wantStatus)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	var all evaluator.Overview
	get("/v1/metrics", 200, &all)
	if len(all.Experiments) != 1 || all.Experiments[0].Experiment != "exp1" || all.Policy != evaluator.PolicyLatest {
		t.Errorf("overview %+v", all)
	}
	var snap proto.MetricsSnapshot
	get("/v1/metrics/exp1", 200, &snap)
	if arm(snap, proto.ArmChampion).Confusion.TP != 1 {
		t.Errorf("snapshot %+v", snap)
	}
	var problem map[string]any
	get("/v1/metrics/nope", 404, &problem)
	if problem["field"] != "experiment" {
		t.Errorf("problem %v", problem)
	}
	var view evaluator.RequestView
	get("/v1/requests/h1", 200, &view)
	if view.RequestID != "h1" || view.Results[proto.ArmChampion].Label != P || view.Verdict.GroundTruth != P || view.Revision == 0 {
		t.Errorf("request view %+v", view)
	}
	get("/v1/requests/weird%2Fid%20with%20spaces", 200, &view)
	if view.RequestID != "weird/id with spaces" || !strings.HasPrefix(view.Key, "h.") {
		t.Errorf("request view %+v", view)
	}
	get("/v1/requests/unknown", 404, &problem)
	if problem["field"] != "request_id" {
		t.Errorf("problem %v", problem)
	}
}

func TestPoisonIsDeadLettered(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	ev := start(t, env)
	m := nats.NewMsg(proto.InferenceResultSubject(proto.ArmChampion))
	m.Data = []byte(`{"request_id":"p1","arm":"champion","status":"maybe"}`)
	if _, err := env.JS.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	publishResult(t, env.JS, result("p2", "exp1", proto.ArmChampion, P, true, t0))
	waitCounts(t, ev.svc, "exp1", proto.ArmChampion, counts{Predictions: 1, Served: 1})
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		s, err := env.JS.Stream(t.Context(), proto.StreamDeadLetter)
		if err != nil {
			return err
		}
		if _, err := s.GetLastMsgForSubject(t.Context(), proto.DeadLetterSubject(proto.ConsumerEvaluatorResults)); err != nil {
			return err
		}
		return nil
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if err := evaluator.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*evaluator.Config){
		"policy":           func(c *evaluator.Config) { c.Policy = "vote" },
		"publish_interval": func(c *evaluator.Config) { c.PublishInterval = 0 },
		"workers":          func(c *evaluator.Config) { c.Workers = 0 },
		"http_addr":        func(c *evaluator.Config) { c.HTTPAddr = "x" },
		"kv_replicas":      func(c *evaluator.Config) { c.KVReplicas = 0 },
	}
	for field, mutate := range bad {
		c := evaluator.DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %v", field, err)
		}
	}
}

func TestStateKey(t *testing.T) {
	t.Parallel()
	if k := evaluator.StateKey("req-1_A"); k != "r.req-1_A" {
		t.Errorf("token key %q", k)
	}
	a, b := evaluator.StateKey("a.b"), evaluator.StateKey("a b")
	if !strings.HasPrefix(a, "h.") || len(a) != 66 || a == b {
		t.Errorf("hashed keys %q %q", a, b)
	}
}
