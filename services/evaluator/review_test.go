package evaluator_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/evaluator"
)

func TestReviewQueueListsServedPredictionsWithoutFeedback(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	ev := start(t, env, func(c *evaluator.Config) { c.ReviewQueueMax = 5 })
	// r1..r4: served champion results, one minute apart; r2 is PNEUMONIA.
	for i := 1; i <= 4; i++ {
		label := N
		if i == 2 {
			label = P
		}
		r := result(fmt.Sprintf("r%d", i), "exp1", proto.ArmChampion, label, true, t0.Add(time.Duration(i)*time.Minute))
		r.Image = proto.ImageRef{Key: fmt.Sprintf("bronze/images/date=2026-11-28/img%d.png", i), Format: "png"}
		publishResult(t, env.JS, r)
	}
	// A shadow (unserved) answer is not reviewed on its own; an error is not
	// either.
	publishResult(t, env.JS, result("s1", "exp1", proto.ArmChallenger, P, false, t0))
	publishResult(t, env.JS, result("e1", "exp1", proto.ArmChampion, "", true, t0))
	waitCounts(t, ev.svc, "exp1", proto.ArmChampion, counts{Predictions: 4, Served: 4, Errors: 1})

	page, err := ev.svc.ReviewQueue(evaluator.ReviewQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(page.Items); got != "r4 r3 r2 r1" || page.Pending != 4 || page.Next != "" {
		t.Fatalf("queue = %q pending %d next %q, want r4 r3 r2 r1 (newest first), 4, no next", got, page.Pending, page.Next)
	}
	if it := page.Items[2]; it.Label != P || it.ModelName != "pneumonia-champion" || it.ImageKey == "" || it.ImageFormat != "png" {
		t.Fatalf("item r2 = %+v", it)
	}
	page, _ = ev.svc.ReviewQueue(evaluator.ReviewQuery{Oldest: true})
	if got := ids(page.Items); got != "r1 r2 r3 r4" {
		t.Fatalf("oldest first: %q, want r1 r2 r3 r4", got)
	}
	// Filters and paging.
	page, _ = ev.svc.ReviewQueue(evaluator.ReviewQuery{Predicted: P})
	if ids(page.Items) != "r2" || page.Pending != 1 {
		t.Fatalf("predicted=PNEUMONIA: %q pending %d", ids(page.Items), page.Pending)
	}
	page, _ = ev.svc.ReviewQueue(evaluator.ReviewQuery{Model: "other"})
	if len(page.Items) != 0 || page.Pending != 0 {
		t.Fatalf("model=other: %v", page.Items)
	}
	first, _ := ev.svc.ReviewQueue(evaluator.ReviewQuery{Limit: 3})
	second, err := ev.svc.ReviewQueue(evaluator.ReviewQuery{Limit: 3, Before: first.Next})
	if err != nil || ids(first.Items) != "r4 r3 r2" || ids(second.Items) != "r1" || second.Next != "" {
		t.Fatalf("pages %q / %q (next %q), err %v", ids(first.Items), ids(second.Items), second.Next, err)
	}
	// Bad queries name the parameter.
	for q, want := range map[evaluator.ReviewQuery]string{
		{Limit: 501}:         "limit 501",
		{Predicted: "maybe"}: `predicted "maybe"`,
		{Before: "!!"}:       `before "!!"`,
	} {
		if _, err := ev.svc.ReviewQueue(q); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: err %v, want %q", q, err, want)
		}
	}

	// Feedback takes a request off the queue, and it stays off after a
	// restart (the index is rebuilt from the stored state).
	publishFeedback(t, env.JS, fb("f3", "r3", proto.FeedbackTrueNegative, "", t0.Add(time.Hour)), "")
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		page, _ := ev.svc.ReviewQueue(evaluator.ReviewQuery{})
		if got := ids(page.Items); got != "r4 r2 r1" {
			return fmt.Errorf("queue %q", got)
		}
		return nil
	})
	ev.stop(t)
	ev = start(t, env, func(c *evaluator.Config) { c.ReviewQueueMax = 2 })
	page, _ = ev.svc.ReviewQueue(evaluator.ReviewQuery{})
	// Bounded to the newest after the rebuild (ReviewQueueMax 2 leaves up to
	// 10% slack before trimming, so three items fit: 3 > 2+0 trims to 2).
	if got := ids(page.Items); got != "r4 r2" || !page.Truncated {
		t.Fatalf("after restart with max 2: %q truncated %v, want r4 r2, true", got, page.Truncated)
	}
}

func ids(items []evaluator.ReviewItem) string {
	var s []string
	for _, it := range items {
		s = append(s, it.RequestID)
	}
	return strings.Join(s, " ")
}

func TestDailyAndLatencyMetrics(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	ev := start(t, env)
	day1, day2 := t0, t0.Add(24*time.Hour)
	lat := []float64{5, 5, 5, 5, 5, 5, 5, 5, 5, 200} // p50 5 ms, p99 200 ms
	for i, l := range lat {
		at := day1
		if i >= 6 {
			at = day2
		}
		r := result(fmt.Sprintf("d%d", i), "exp1", proto.ArmChampion, P, true, at)
		r.LatencyMS = l
		publishResult(t, env.JS, r)
	}
	publishFeedback(t, env.JS, fb("fa", "d0", proto.FeedbackTruePositive, "", day2), "")  // correct, day 1
	publishFeedback(t, env.JS, fb("fb", "d1", proto.FeedbackFalsePositive, "", day2), "") // wrong, day 1
	publishFeedback(t, env.JS, fb("fc", "d7", proto.FeedbackTruePositive, "", day2), "")  // correct, day 2
	snap := waitCounts(t, ev.svc, "exp1", proto.ArmChampion, counts{Predictions: 10, Served: 10, Feedback: 3, Confusion: proto.Confusion{TP: 2, FP: 1}})

	l := arm(snap, proto.ArmChampion).Latency
	if l == nil || l.N != 10 {
		t.Fatalf("latency %+v, want n 10", l)
	}
	// Each percentile is the upper bound of its bucket: within 19% above.
	for name, c := range map[string][2]float64{"p50": {l.P50, 5}, "p90": {l.P90, 5}, "p99": {l.P99, 200}} {
		if c[0] < c[1] || c[0] > c[1]*1.19 {
			t.Errorf("%s = %v, want within [%v, %v]", name, c[0], c[1], c[1]*1.19)
		}
	}
	if arm(snap, proto.ArmChallenger).Latency != nil {
		t.Errorf("challenger latency %+v, want nil (no results)", arm(snap, proto.ArmChallenger).Latency)
	}
	if len(snap.Daily) != 2 {
		t.Fatalf("daily = %+v, want 2 rows", snap.Daily)
	}
	d1, d2 := snap.Daily[0], snap.Daily[1]
	if d1.Date != "2026-11-28" || d1.Predictions != 6 || d1.Feedback != 2 || d1.Accuracy != 0.5 || d1.ModelName != "pneumonia-champion" || d1.Arm != proto.ArmChampion {
		t.Errorf("day 1 = %+v", d1)
	}
	if d2.Date != "2026-11-29" || d2.Predictions != 4 || d2.Feedback != 1 || d2.Accuracy != 1 || d2.Confusion.TP != 1 {
		t.Errorf("day 2 = %+v", d2)
	}
}

// TestMetricsByModelVersion: after a promotion the champion arm serves
// another model; the per-arm numbers mix both, the per-version ones do not,
// and the daily numbers are per version.
func TestMetricsByModelVersion(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	ev := start(t, env)
	send := func(id, arm, name, label string, at time.Time) {
		r := result(id, "exp1", arm, label, true, at)
		r.ModelName, r.ModelVersion, r.LatencyMS = name, "1", 10
		publishResult(t, env.JS, r)
	}
	// Before: champion A (2 results), challenger B (1); after the promotion
	// B serves on the champion arm (2 results).
	send("p1", proto.ArmChampion, "model-a", P, t0)
	send("p2", proto.ArmChampion, "model-a", N, t0)
	send("p3", proto.ArmChallenger, "model-b", P, t0)
	send("p4", proto.ArmChampion, "model-b", P, t0.Add(time.Hour))
	send("p5", proto.ArmChampion, "model-b", P, t0.Add(time.Hour))
	publishFeedback(t, env.JS, fb("f1", "p1", proto.FeedbackFalsePositive, "", t0.Add(2*time.Hour)), "") // A wrong
	publishFeedback(t, env.JS, fb("f4", "p4", proto.FeedbackTruePositive, "", t0.Add(2*time.Hour)), "")  // B right
	snap := waitCounts(t, ev.svc, "exp1", proto.ArmChampion, counts{Predictions: 4, Served: 4, Feedback: 2, Confusion: proto.Confusion{TP: 1, FP: 1}})
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		snap = ev.svc.Snapshot("exp1")
		if len(snap.ByModel) != 2 {
			return fmt.Errorf("by_model %+v", snap.ByModel)
		}
		return nil
	})
	b, a := snap.ByModel[0], snap.ByModel[1]
	// model-b is what the champion arm serves now: first.
	if b.ModelName != "model-b" || b.Arm != proto.ArmChampion || b.Predictions != 3 || b.Feedback != 1 || b.Accuracy != 1 ||
		b.Latency == nil || b.Latency.N != 3 || !near(b.TrafficActual, 3.0/5) {
		t.Errorf("model-b = %+v", b)
	}
	if a.ModelName != "model-a" || a.Arm != proto.ArmChampion || a.Predictions != 2 || a.Feedback != 1 || a.Accuracy != 0 || a.Confusion.FP != 1 {
		t.Errorf("model-a = %+v", a)
	}
	// Daily: one row per version for the day, model-b counting both arms.
	if len(snap.Daily) != 2 || snap.Daily[0].ModelName != "model-a" || snap.Daily[1].ModelName != "model-b" ||
		snap.Daily[1].Predictions != 3 || snap.Daily[1].Arm != proto.ArmChampion {
		t.Errorf("daily = %+v", snap.Daily)
	}
}
