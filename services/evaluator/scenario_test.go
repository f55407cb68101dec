package evaluator_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/evaluator"
)

// scenario is a random but fully known set of events and the metrics they
// must produce under PolicyLatest, computed here without the evaluator.
type scenario struct {
	events   []*nats.Msg // publications, in arrival order
	expected map[string]map[string]*proto.ModelMetrics
	// epochs are the expected numbers per experiment and epoch.
	epochs  map[string]map[int]*proto.EpochMetrics
	split   map[string]proto.Split
	mode    map[string]string
	pending int
}

// epochsOf is the number of experiment epochs a scenario of n requests runs
// through: request i is routed in epoch i*epochsOf/n.
const epochsOf = 3

func flip(label string) string {
	if label == P {
		return N
	}
	return P
}

// typeFor is the feedback type a radiologist gives for a served label and
// the truth.
func typeFor(served, truth string) string {
	switch {
	case served == P && truth == P:
		return proto.FeedbackTruePositive
	case served == P && truth == N:
		return proto.FeedbackFalsePositive
	case served == N && truth == N:
		return proto.FeedbackTrueNegative
	default:
		return proto.FeedbackFalseNegative
	}
}

func newScenario(seed uint64, n int) *scenario {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	sc := &scenario{
		expected: map[string]map[string]*proto.ModelMetrics{},
		epochs:   map[string]map[int]*proto.EpochMetrics{},
		split:    map[string]proto.Split{"exp-split": {Champion: 70, Challenger: 30}, "exp-shadow": {Champion: 100, Challenger: 0}},
		mode:     map[string]string{"exp-split": proto.ModeSplit, "exp-shadow": proto.ModeShadow},
	}
	latest := map[string]time.Time{} // exp/arm and exp/epoch/arm -> completed_at of the model seen last
	metrics := func(exp, arm string) *proto.ModelMetrics {
		if sc.expected[exp] == nil {
			sc.expected[exp] = map[string]*proto.ModelMetrics{}
		}
		m := sc.expected[exp][arm]
		if m == nil {
			m = &proto.ModelMetrics{Arm: arm}
			sc.expected[exp][arm] = m
		}
		return m
	}
	epochOf := func(exp string, n int) *proto.EpochMetrics {
		if sc.epochs[exp] == nil {
			sc.epochs[exp] = map[int]*proto.EpochMetrics{}
		}
		e := sc.epochs[exp][n]
		if e == nil {
			e = &proto.EpochMetrics{Epoch: n, Models: []proto.ModelMetrics{{Arm: proto.ArmChampion}, {Arm: proto.ArmChallenger}}}
			sc.epochs[exp][n] = e
		}
		return e
	}
	epochMetrics := func(exp string, n int, arm string) *proto.ModelMetrics {
		e := epochOf(exp, n)
		if arm == proto.ArmChampion {
			return &e.Models[0]
		}
		return &e.Models[1]
	}
	for i := range n {
		req := fmt.Sprintf("req-%d-%04d", seed, i)
		exp := "exp-split"
		if rng.Float64() < 0.4 {
			exp = "exp-shadow"
		}
		truth := N
		if rng.Float64() < 0.4 {
			truth = P
		}
		at := t0.Add(time.Duration(i) * time.Second)
		epoch := i * epochsOf / n
		var results []*proto.InferenceResult
		if exp == "exp-split" {
			a := proto.ArmChampion
			if rng.Float64() < 0.3 {
				a = proto.ArmChallenger
			}
			results = append(results, result(req, exp, a, "", true, at))
		} else {
			results = append(results, result(req, exp, proto.ArmChampion, "", true, at),
				result(req, exp, proto.ArmChallenger, "", false, at.Add(time.Millisecond)))
		}
		var served *proto.InferenceResult
		for _, r := range results {
			r.ConfiguredSplit = sc.split[exp]
			r.Epoch = epoch
			if r.Arm == proto.ArmChampion && i > n/2 {
				r.ModelVersion = "2" // the champion is upgraded mid-experiment
			}
			if rng.Float64() < 0.06 {
				r.Status, r.StatusCode, r.Error, r.Label = proto.StatusError, 500, "runtime error", ""
			} else {
				r.Label = truth
				if rng.Float64() < 0.2 {
					r.Label = flip(truth)
				}
			}
			if r.Served {
				served = r
			}
			if r.CompletedAt.After(latest[exp+"/"+r.Arm]) {
				latest[exp+"/"+r.Arm] = r.CompletedAt
				m := metrics(exp, r.Arm)
				m.ModelName, m.ModelVersion = r.ModelName, r.ModelVersion
			}
			if k := fmt.Sprintf("%s/%d/%s", exp, epoch, r.Arm); r.CompletedAt.After(latest[k]) {
				latest[k] = r.CompletedAt
				m := epochMetrics(exp, epoch, r.Arm)
				m.ModelName, m.ModelVersion = r.ModelName, r.ModelVersion
			}
			sc.events = append(sc.events, resultMsg(r))
		}

		// Feedback: none, one, or a corrected pair; sometimes delivered twice.
		var fbs []*proto.FeedbackRecorded
		if rng.Float64() < 0.85 {
			k := 1
			if rng.Float64() < 0.15 {
				k = 2
			}
			for j := range k {
				stated := truth
				if k == 2 && rng.Float64() < 0.5 {
					stated = flip(truth) // one of the two readers was wrong
				}
				recAt := at.Add(24*time.Hour + time.Duration(rng.IntN(10000))*time.Second)
				var f *proto.FeedbackRecorded
				switch {
				case served == nil || served.Status == proto.StatusError || rng.Float64() < 0.15:
					f = fb(fmt.Sprintf("%s-f%d", req, j), req, "", stated, recAt)
				case rng.Float64() < 0.05:
					// Inconsistent: the type implies the opposite of the served label.
					f = fb(fmt.Sprintf("%s-f%d", req, j), req, typeFor(flip(served.Label), stated), "", recAt)
				default:
					f = fb(fmt.Sprintf("%s-f%d", req, j), req, typeFor(served.Label, stated), "", recAt)
				}
				fbs = append(fbs, f)
				sc.events = append(sc.events, feedbackMsg(f, ""))
				if rng.Float64() < 0.1 {
					sc.events = append(sc.events, feedbackMsg(f, "feedback:"+f.FeedbackID+":redelivered"))
				}
			}
		}
		// The effective feedback: latest recorded_at, ties by larger id.
		var eff *proto.FeedbackRecorded
		for _, f := range fbs {
			if eff == nil || f.RecordedAt.After(eff.RecordedAt) || (f.RecordedAt.Equal(eff.RecordedAt) && f.FeedbackID > eff.FeedbackID) {
				eff = f
			}
		}
		for _, r := range results {
			for _, m := range []*proto.ModelMetrics{metrics(exp, r.Arm), epochMetrics(exp, epoch, r.Arm)} {
				if r.Status == proto.StatusError {
					m.Errors++
					continue
				}
				m.Predictions++
				if r.Served {
					m.Served++
				}
				if eff == nil {
					continue
				}
				m.Feedback++
				m.Confusion.Add(r.Label, eff.GroundTruth, 1)
				if r.Served && eff.FeedbackType != "" && proto.ImpliedPrediction(eff.FeedbackType) != r.Label {
					m.Inconsistent++
				}
			}
		}
		// Shadow requests both arms answered and a radiologist judged are pairs.
		if len(results) == 2 && results[0].Status == proto.StatusOK && results[1].Status == proto.StatusOK && eff != nil {
			e := epochOf(exp, epoch)
			champ, chall := results[0].Label == eff.GroundTruth, results[1].Label == eff.GroundTruth
			e.Paired.Add(champ, chall, 1)
			if eff.GroundTruth == P {
				e.PairedPositives.Add(champ, chall, 1)
			} else {
				e.PairedNegatives.Add(champ, chall, 1)
			}
		}
	}
	// Feedback for requests that never got a result stays pending.
	for i := range 7 {
		f := fb(fmt.Sprintf("orphan-%d-%d-f", seed, i), fmt.Sprintf("orphan-%d-%d", seed, i), proto.FeedbackTruePositive, "", t0)
		sc.events = append(sc.events, feedbackMsg(f, ""))
		sc.pending++
	}
	rng.Shuffle(len(sc.events), func(i, j int) { sc.events[i], sc.events[j] = sc.events[j], sc.events[i] })
	// Derived numbers, by their definitions.
	for exp, arms := range sc.expected {
		derive(arms, sc.split[exp])
		for _, e := range sc.epochs[exp] {
			derive(map[string]*proto.ModelMetrics{proto.ArmChampion: &e.Models[0], proto.ArmChallenger: &e.Models[1]}, sc.split[exp])
		}
	}
	return sc
}

// derive computes the ratios of the arms' metrics from their counts, by
// their definitions.
func derive(arms map[string]*proto.ModelMetrics, split proto.Split) {
	div := func(x, y int) float64 {
		if y == 0 {
			return 0
		}
		return float64(x) / float64(y)
	}
	served := 0
	for _, m := range arms {
		served += m.Served
	}
	for a, m := range arms {
		c := m.Confusion
		m.Coverage = div(m.Feedback, m.Predictions)
		m.Accuracy = div(c.TP+c.TN, c.TP+c.TN+c.FP+c.FN)
		m.Sensitivity = div(c.TP, c.TP+c.FN)
		m.Specificity = div(c.TN, c.TN+c.FP)
		m.PPV = div(c.TP, c.TP+c.FP)
		m.NPV = div(c.TN, c.TN+c.FN)
		m.TrafficActual = div(m.Served, served)
		m.TrafficConfigured = float64(split.Weight(a)) / 100
	}
}

// publish sends the events in order, asynchronously, and waits for every
// acknowledgement.
func (sc *scenario) publish(t testing.TB, js jetstream.JetStream) {
	t.Helper()
	acks := make([]jetstream.PubAckFuture, 0, len(sc.events))
	for _, m := range sc.events {
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, f)
	}
	for i, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatalf("publish event %d: %v", i, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("publish event %d: no acknowledgement", i)
		}
	}
}

// check compares the evaluator's numbers with the expected ones.
func (sc *scenario) check(svc *evaluator.Service) error {
	var errs []error
	for exp, arms := range sc.expected {
		snap := svc.Snapshot(exp)
		if snap.PendingFeedback != sc.pending {
			errs = append(errs, fmt.Errorf("%s: pending %d, want %d", exp, snap.PendingFeedback, sc.pending))
		}
		if snap.Mode != sc.mode[exp] || snap.Split != sc.split[exp] {
			errs = append(errs, fmt.Errorf("%s: mode %q split %v", exp, snap.Mode, snap.Split))
		}
		for a, want := range arms {
			errs = append(errs, compareArm(exp, arm(snap, a), want)...)
		}
		if len(snap.Epochs) != len(sc.epochs[exp]) {
			errs = append(errs, fmt.Errorf("%s: epochs %v, want %d", exp, epochNumbers(snap), len(sc.epochs[exp])))
		}
		for i, e := range snap.Epochs {
			want, ok := sc.epochs[exp][e.Epoch]
			if !ok || (i > 0 && e.Epoch <= snap.Epochs[i-1].Epoch) {
				errs = append(errs, fmt.Errorf("%s: epochs %v, unexpected or out of order", exp, epochNumbers(snap)))
				continue
			}
			if e.Paired != want.Paired || e.PairedPositives != want.PairedPositives || e.PairedNegatives != want.PairedNegatives {
				errs = append(errs, fmt.Errorf("%s epoch %d: paired %+v %+v %+v, want %+v %+v %+v", exp, e.Epoch,
					e.Paired, e.PairedPositives, e.PairedNegatives, want.Paired, want.PairedPositives, want.PairedNegatives))
			}
			epochSnap := proto.MetricsSnapshot{Models: e.Models}
			for j := range want.Models {
				w := &want.Models[j]
				errs = append(errs, compareArm(fmt.Sprintf("%s epoch %d", exp, e.Epoch), arm(epochSnap, w.Arm), w)...)
			}
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// compareArm compares one arm's metrics with the expected ones.
func compareArm(where string, got proto.ModelMetrics, want *proto.ModelMetrics) []error {
	a := want.Arm
	if countsOf(got) != countsOf(*want) || got.ModelName != want.ModelName || got.ModelVersion != want.ModelVersion {
		return []error{fmt.Errorf("%s/%s: got %+v %s@%s, want %+v %s@%s", where, a,
			countsOf(got), got.ModelName, got.ModelVersion, countsOf(*want), want.ModelName, want.ModelVersion)}
	}
	var errs []error
	for _, f := range []struct {
		name      string
		got, want float64
	}{
		{"coverage", got.Coverage, want.Coverage}, {"accuracy", got.Accuracy, want.Accuracy},
		{"sensitivity", got.Sensitivity, want.Sensitivity}, {"specificity", got.Specificity, want.Specificity},
		{"ppv", got.PPV, want.PPV}, {"npv", got.NPV, want.NPV},
		{"traffic_actual", got.TrafficActual, want.TrafficActual}, {"traffic_configured", got.TrafficConfigured, want.TrafficConfigured},
	} {
		if !near(f.got, f.want) {
			errs = append(errs, fmt.Errorf("%s/%s %s: got %v, want %v", where, a, f.name, f.got, f.want))
		}
	}
	return errs
}

func TestRandomScenarioMatchesIndependentCount(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	sc := newScenario(1, 500)
	t.Logf("%d events", len(sc.events))
	ev := start(t, env)
	sc.publish(t, env.JS) // while the evaluator runs: any interleaving
	bustest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error { return sc.check(ev.svc) })
	waitDrained(t, env.JS)
	if err := sc.check(ev.svc); err != nil {
		t.Fatalf("after drain: %v", err)
	}
}

func TestRestartMidStreamCountsEverythingOnce(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	sc := newScenario(2, 300)
	sc.publish(t, env.JS)
	total := uint64(len(sc.events))

	first := start(t, env, func(c *evaluator.Config) { c.Workers = 1 })
	// Stop it once a part of the events is processed.
	bustest.CheckFor(t, 10*time.Second, 2*time.Millisecond, func() error {
		if n := acked(t.Context(), env.JS); n < total/4 {
			return fmt.Errorf("%d of %d acknowledged", n, total)
		}
		return nil
	})
	first.stop(t)
	done := acked(t.Context(), env.JS)
	if consumersDone(t.Context(), env.JS) == nil {
		t.Fatalf("the first instance processed everything (%d acks) before it was stopped", done)
	}
	t.Logf("first instance stopped after %d of %d events", done, total)

	second := start(t, env)
	bustest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error { return sc.check(second.svc) })
	waitDrained(t, env.JS)
	if err := sc.check(second.svc); err != nil {
		t.Fatalf("after drain: %v", err)
	}
	second.stop(t)

	// A third instance rebuilds the same numbers from the stored state alone.
	third := start(t, env)
	if err := sc.check(third.svc); err != nil {
		t.Fatalf("rebuilt from the bucket: %v", err)
	}
}

// acked is the number of messages both evaluator consumers have acknowledged.
func acked(ctx context.Context, js jetstream.JetStream) uint64 {
	var n uint64
	for _, c := range []struct{ stream, name string }{
		{proto.StreamInference, proto.ConsumerEvaluatorResults},
		{proto.StreamFeedback, proto.ConsumerEvaluatorFeedback},
	} {
		cons, err := js.Consumer(ctx, c.stream, c.name)
		if err != nil {
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil {
			continue
		}
		n += info.AckFloor.Stream
	}
	return n
}

func TestThrottledPublishing(t *testing.T) {
	t.Parallel()
	env := bustest.Start(t)
	const interval = 150 * time.Millisecond
	const exp = "thr"
	snaps := make(chan *nats.Msg, 1000)
	sub, err := env.Conn.ChanSubscribe(proto.MetricsExperimentSubject(exp), snaps)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	models, err := env.Conn.SubscribeSync(proto.MetricsModelSubject(exp, proto.ArmChampion))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	ev := start(t, env, func(c *evaluator.Config) { c.PublishInterval = interval })

	began := time.Now()
	const n = 300
	for i := range n {
		publishResult(t, env.JS, result(fmt.Sprintf("t%d", i), exp, proto.ArmChampion, P, true, t0.Add(time.Duration(i)*time.Second)))
	}
	var got []proto.MetricsSnapshot
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		for {
			select {
			case m := <-snaps:
				var s proto.MetricsSnapshot
				if err := proto.Decode(m.Data, &s); err != nil {
					return err
				}
				got = append(got, s)
				continue
			default:
			}
			break
		}
		if len(got) == 0 || arm(got[len(got)-1], proto.ArmChampion).Predictions != n {
			return fmt.Errorf("%d snapshots, last not final yet", len(got))
		}
		return nil
	})
	elapsed := time.Since(began)
	if limit := int(elapsed/interval) + 2; len(got) > limit {
		t.Errorf("%d snapshots in %s with interval %s: more than %d", len(got), elapsed, interval, limit)
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].GeneratedAt.Sub(got[i-1].GeneratedAt); gap < interval {
			t.Errorf("snapshots %d and %d generated %s apart, less than the interval %s", i-1, i, gap, interval)
		}
		if got[i].SnapshotID == got[i-1].SnapshotID {
			t.Errorf("snapshot id %s repeated", got[i].SnapshotID)
		}
	}
	t.Logf("%d snapshots for %d changes in %s", len(got), n, elapsed)
	// Each snapshot comes with the per-arm metrics; the last one is final.
	var last proto.ModelMetrics
	for {
		m, err := models.NextMsg(100 * time.Millisecond)
		if err != nil {
			break
		}
		if err := jsonUnmarshal(m.Data, &last); err != nil {
			t.Fatal(err)
		}
	}
	if last.Predictions != n || last.Arm != proto.ArmChampion {
		t.Errorf("last model metrics %+v", last)
	}
	// The snapshots are kept in the METRICS stream for late dashboards.
	s, err := env.JS.Stream(t.Context(), proto.StreamMetrics)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.GetLastMsgForSubject(t.Context(), proto.MetricsExperimentSubject(exp))
	if err != nil {
		t.Fatal(err)
	}
	var stored proto.MetricsSnapshot
	if err := proto.Decode(raw.Data, &stored); err != nil || stored.SnapshotID != got[len(got)-1].SnapshotID {
		t.Errorf("stored snapshot %s (%v), want %s", stored.SnapshotID, err, got[len(got)-1].SnapshotID)
	}
	ev.stop(t)
}
