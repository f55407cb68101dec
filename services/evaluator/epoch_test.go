package evaluator_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/evaluator"
)

// inEpoch sets the epoch and the configured split a result was routed with.
func inEpoch(r *proto.InferenceResult, epoch int, split proto.Split) *proto.InferenceResult {
	r.Epoch, r.ConfiguredSplit = epoch, split
	return r
}

func epochOf(snap proto.MetricsSnapshot, n int) (proto.EpochMetrics, bool) {
	for _, e := range snap.Epochs {
		if e.Epoch == n {
			return e, true
		}
	}
	return proto.EpochMetrics{}, false
}

func epochNumbers(snap proto.MetricsSnapshot) []int {
	var out []int
	for _, e := range snap.Epochs {
		out = append(out, e.Epoch)
	}
	return out
}

// epochWant is what a test states exactly about one epoch.
type epochWant struct {
	champion, challenger counts
	paired, pos, neg     proto.PairedCounts
}

func (w epochWant) check(snap proto.MetricsSnapshot, n int) error {
	e, ok := epochOf(snap, n)
	if !ok {
		return fmt.Errorf("epoch %d missing (epochs %v)", n, epochNumbers(snap))
	}
	champ, chall := countsOf(arm(proto.MetricsSnapshot{Models: e.Models}, proto.ArmChampion)),
		countsOf(arm(proto.MetricsSnapshot{Models: e.Models}, proto.ArmChallenger))
	if champ != w.champion || chall != w.challenger {
		return fmt.Errorf("epoch %d: champion %+v challenger %+v, want %+v and %+v", n, champ, chall, w.champion, w.challenger)
	}
	if e.Paired != w.paired || e.PairedPositives != w.pos || e.PairedNegatives != w.neg {
		return fmt.Errorf("epoch %d: paired %+v (positives %+v, negatives %+v), want %+v (%+v, %+v)",
			n, e.Paired, e.PairedPositives, e.PairedNegatives, w.paired, w.pos, w.neg)
	}
	return nil
}

// waitEpochs polls the snapshot until it has exactly the wanted epochs.
func waitEpochs(t *testing.T, svc *evaluator.Service, exp string, want map[int]epochWant) proto.MetricsSnapshot {
	t.Helper()
	var snap proto.MetricsSnapshot
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		snap = svc.Snapshot(exp)
		if len(snap.Epochs) != len(want) {
			return fmt.Errorf("epochs %v, want %d", epochNumbers(snap), len(want))
		}
		for n, w := range want {
			if err := w.check(snap, n); err != nil {
				return err
			}
		}
		return nil
	})
	return snap
}

// The split moves from 50/50 (epoch 0) to 30/70 (epoch 1) mid-run; feedback
// on an epoch-0 prediction that arrives after the change counts in epoch 0.
func TestEpochsCountApartAndLateFeedbackJoinsItsEpoch(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	ev := start(t, env)
	const exp = "rollout"
	s50, s30 := proto.Split{Champion: 50, Challenger: 50}, proto.Split{Champion: 30, Challenger: 70}

	publishResult(t, env.JS, inEpoch(result("e0-1", exp, proto.ArmChampion, P, true, t0), 0, s50))
	publishResult(t, env.JS, inEpoch(result("e0-2", exp, proto.ArmChallenger, N, true, t0), 0, s50))
	publishResult(t, env.JS, inEpoch(result("e0-3", exp, proto.ArmChampion, N, true, t0), 0, s50))
	publishFeedback(t, env.JS, fb("e0-1-f", "e0-1", proto.FeedbackTruePositive, "", t0.Add(time.Hour)), "")
	waitEpochs(t, ev.svc, exp, map[int]epochWant{
		0: {champion: counts{Predictions: 2, Served: 2, Feedback: 1, Confusion: proto.Confusion{TP: 1}}, challenger: counts{Predictions: 1, Served: 1}},
	})

	// The rollout controller moves to 30/70: epoch 1.
	later := t0.Add(2 * time.Hour)
	publishResult(t, env.JS, inEpoch(result("e1-1", exp, proto.ArmChallenger, P, true, later), 1, s30))
	publishResult(t, env.JS, inEpoch(result("e1-2", exp, proto.ArmChallenger, N, true, later), 1, s30))
	publishResult(t, env.JS, inEpoch(result("e1-3", exp, proto.ArmChampion, P, true, later), 1, s30))
	publishResult(t, env.JS, inEpoch(result("e1-4", exp, proto.ArmChallenger, "", true, later), 1, s30)) // error
	publishFeedback(t, env.JS, fb("e1-1-f", "e1-1", proto.FeedbackFalsePositive, "", later.Add(time.Hour)), "")
	publishFeedback(t, env.JS, fb("e1-3-f", "e1-3", proto.FeedbackTruePositive, "", later.Add(time.Hour)), "")
	// Late feedback on epoch-0 predictions, recorded during epoch 1; one of
	// them corrects the verdict of e0-1.
	publishFeedback(t, env.JS, fb("e0-2-f", "e0-2", proto.FeedbackFalseNegative, "", later.Add(3*time.Hour)), "")
	publishFeedback(t, env.JS, fb("e0-1-g", "e0-1", "", N, later.Add(3*time.Hour)), "")

	epoch0 := epochWant{
		champion:   counts{Predictions: 2, Served: 2, Feedback: 1, Confusion: proto.Confusion{FP: 1}},
		challenger: counts{Predictions: 1, Served: 1, Feedback: 1, Confusion: proto.Confusion{FN: 1}},
	}
	epoch1 := epochWant{
		champion:   counts{Predictions: 1, Served: 1, Feedback: 1, Confusion: proto.Confusion{TP: 1}},
		challenger: counts{Predictions: 2, Errors: 1, Served: 2, Feedback: 1, Confusion: proto.Confusion{FP: 1}},
	}
	snap := waitEpochs(t, ev.svc, exp, map[int]epochWant{0: epoch0, 1: epoch1})
	if got := epochNumbers(snap); !reflect.DeepEqual(got, []int{0, 1}) {
		t.Errorf("epochs %v, want sorted [0 1]", got)
	}
	// The cumulative numbers are the sum of the epochs, as before.
	waitCounts(t, ev.svc, exp, proto.ArmChampion, counts{Predictions: 3, Served: 3, Feedback: 2, Confusion: proto.Confusion{FP: 1, TP: 1}})
	snap = waitCounts(t, ev.svc, exp, proto.ArmChallenger, counts{Predictions: 3, Errors: 1, Served: 3, Feedback: 2, Confusion: proto.Confusion{FN: 1, FP: 1}})
	if snap.Split != s30 || snap.Mode != proto.ModeSplit {
		t.Errorf("snapshot split %s mode %s, want the latest 30/70 split mode", snap.Split, snap.Mode)
	}
	// Traffic within each epoch, against that epoch's configured split.
	for _, tc := range []struct {
		epoch                 int
		arm                   string
		actual, configured    float64
		accuracy, coverageArm float64
	}{
		{0, proto.ArmChampion, 2.0 / 3, 0.5, 0, 0.5},
		{0, proto.ArmChallenger, 1.0 / 3, 0.5, 0, 1},
		{1, proto.ArmChampion, 1.0 / 3, 0.3, 1, 1},
		{1, proto.ArmChallenger, 2.0 / 3, 0.7, 0, 0.5},
	} {
		e, _ := epochOf(snap, tc.epoch)
		m := arm(proto.MetricsSnapshot{Models: e.Models}, tc.arm)
		if !near(m.TrafficActual, tc.actual) || !near(m.TrafficConfigured, tc.configured) ||
			!near(m.Accuracy, tc.accuracy) || !near(m.Coverage, tc.coverageArm) || m.ModelName != "pneumonia-"+tc.arm {
			t.Errorf("epoch %d %s: traffic %v/%v accuracy %v coverage %v model %s; want %v/%v %v %v",
				tc.epoch, tc.arm, m.TrafficActual, m.TrafficConfigured, m.Accuracy, m.Coverage, m.ModelName,
				tc.actual, tc.configured, tc.accuracy, tc.coverageArm)
		}
	}
	// The join state keeps the epoch with the result.
	view, err := ev.svc.Request(t.Context(), "e0-2")
	if err != nil {
		t.Fatal(err)
	}
	if r := view.Results[proto.ArmChallenger]; r.Epoch != 0 || view.Verdict.GroundTruth != P {
		t.Errorf("state of e0-2: epoch %d verdict %+v", r.Epoch, view.Verdict)
	}
	view, err = ev.svc.Request(t.Context(), "e1-3")
	if err != nil {
		t.Fatal(err)
	}
	if r := view.Results[proto.ArmChampion]; r.Epoch != 1 {
		t.Errorf("state of e1-3: epoch %d, want 1", r.Epoch)
	}
}

// In shadow mode both arms score every request: the paired table counts the
// requests with an ok result from both and a verdict.
func TestPairedCountsInShadowMode(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	ev := start(t, env)
	const exp = "shadow"
	split := proto.Split{Champion: 100, Challenger: 0}
	pair := func(req, champ, chall string, epoch int) {
		t.Helper()
		publishResult(t, env.JS, inEpoch(result(req, exp, proto.ArmChampion, champ, true, t0), epoch, split))
		publishResult(t, env.JS, inEpoch(result(req, exp, proto.ArmChallenger, chall, false, t0.Add(time.Millisecond)), epoch, split))
	}
	truth := func(id, req, gt string, at time.Duration) {
		t.Helper()
		publishFeedback(t, env.JS, fb(id, req, "", gt, t0.Add(at)), "")
	}
	pair("p1", P, P, 2) // truth P: both correct
	pair("p2", P, N, 2) // truth P: only the champion
	pair("p3", N, N, 2) // truth P: both wrong
	pair("p4", P, N, 2) // truth N: only the challenger
	pair("p5", "", N, 2)
	pair("p6", N, N, 2) // no feedback: not a pair
	// The router re-routed the challenger after an epoch change: not a pair
	// of either epoch, though each result counts in its own.
	publishResult(t, env.JS, inEpoch(result("p7", exp, proto.ArmChampion, N, true, t0), 2, split))
	publishResult(t, env.JS, inEpoch(result("p7", exp, proto.ArmChallenger, N, false, t0), 3, split))
	truth("p1-f", "p1", P, time.Hour)
	truth("p2-f", "p2", P, time.Hour)
	truth("p3-f", "p3", P, time.Hour)
	truth("p4-f", "p4", N, time.Hour)
	truth("p5-f", "p5", N, time.Hour) // the champion errored: not a pair
	truth("p7-f", "p7", N, time.Hour)

	want := map[int]epochWant{
		2: {
			champion:   counts{Predictions: 6, Errors: 1, Served: 6, Feedback: 5, Confusion: proto.Confusion{TP: 2, FN: 1, FP: 1, TN: 1}},
			challenger: counts{Predictions: 6, Feedback: 5, Confusion: proto.Confusion{TP: 1, FN: 2, TN: 2}},
			paired:     proto.PairedCounts{BothCorrect: 1, OnlyChampion: 1, OnlyChallenger: 1, BothWrong: 1},
			pos:        proto.PairedCounts{BothCorrect: 1, OnlyChampion: 1, BothWrong: 1},
			neg:        proto.PairedCounts{OnlyChallenger: 1},
		},
		3: {challenger: counts{Predictions: 1, Feedback: 1, Confusion: proto.Confusion{TN: 1}}},
	}
	waitEpochs(t, ev.svc, exp, want)

	// A corrected verdict on p2 (NORMAL after all) moves it from the
	// positives' only-champion cell to the negatives' only-challenger cell.
	truth("p2-g", "p2", N, 2*time.Hour)
	// A verdict on p6 makes it a pair; a second, agreeing one changes nothing.
	truth("p6-f", "p6", N, time.Hour)
	truth("p6-g", "p6", N, 2*time.Hour)
	w := want[2]
	w.champion = counts{Predictions: 6, Errors: 1, Served: 6, Feedback: 6, Confusion: proto.Confusion{TP: 1, FN: 1, FP: 2, TN: 2}}
	w.challenger = counts{Predictions: 6, Feedback: 6, Confusion: proto.Confusion{TP: 1, FN: 1, TN: 4}}
	w.paired = proto.PairedCounts{BothCorrect: 2, OnlyChampion: 0, OnlyChallenger: 2, BothWrong: 1}
	w.pos = proto.PairedCounts{BothCorrect: 1, BothWrong: 1}
	w.neg = proto.PairedCounts{BothCorrect: 1, OnlyChallenger: 2}
	want[2] = w
	waitEpochs(t, ev.svc, exp, want)
	waitDrained(t, env.JS)
	before := ev.svc.Snapshot(exp)

	// A new instance rebuilds the same numbers from the join state alone.
	ev.stop(t)
	again := start(t, env)
	after := again.svc.Snapshot(exp)
	if !reflect.DeepEqual(after.Epochs, before.Epochs) || !reflect.DeepEqual(after.Models, before.Models) {
		t.Fatalf("rebuilt epochs %+v\nwant %+v", after.Epochs, before.Epochs)
	}
	for n, w := range want {
		if err := w.check(after, n); err != nil {
			t.Error(err)
		}
	}
}

// Events and states from before epochs existed decode as epoch 0.
func TestResultWithoutEpochCountsInEpochZero(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	ev := start(t, env)
	r := result("old-1", "legacy", proto.ArmChampion, P, true, t0)
	m := resultMsg(r)
	var raw map[string]any
	if err := jsonUnmarshal(m.Data, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["epoch"]; !ok {
		t.Fatalf("encoded result has no epoch field: %s", m.Data)
	}
	delete(raw, "epoch")
	m.Data = mustJSON(t, raw)
	if _, err := env.JS.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	waitEpochs(t, ev.svc, "legacy", map[int]epochWant{0: {champion: counts{Predictions: 1, Served: 1}}})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
