package evaluator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/evaluator"
)

var t0 = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)

type running struct {
	svc    *evaluator.Service
	cancel context.CancelFunc
	errc   chan error
}

func testConfig(mutate ...func(*evaluator.Config)) evaluator.Config {
	cfg := evaluator.DefaultConfig()
	cfg.HTTPAddr = ""
	cfg.PublishInterval = 50 * time.Millisecond
	cfg.AckWait = time.Second
	for _, m := range mutate {
		m(&cfg)
	}
	return cfg
}

// start runs an evaluator until stop or the end of the test and waits until it
// has loaded its state.
func start(t *testing.T, env *bustest.Env, mutate ...func(*evaluator.Config)) *running {
	t.Helper()
	svc, err := evaluator.New(testConfig(mutate...), evaluator.Deps{JS: env.JS})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{svc: svc, cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- svc.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	select {
	case <-svc.Ready():
	case err := <-r.errc:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("evaluator not ready after 10s")
	}
	return r
}

// stop cancels Run and checks that it returns nil after draining.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.errc == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.errc:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("Run did not return after cancel")
	}
	r.errc = nil
}

func result(req, exp, arm, label string, served bool, at time.Time) *proto.InferenceResult {
	r := &proto.InferenceResult{
		RequestID: req, Experiment: exp, Arm: arm, Served: served,
		ConfiguredSplit: proto.Split{Champion: 50, Challenger: 50},
		ModelName:       "pneumonia-" + arm, ModelVersion: "1",
		Status: proto.StatusOK, StatusCode: 200, Label: label, Probability: 0.3, Threshold: 0.5,
		RoutedAt: at.Add(-time.Second), CompletedAt: at,
	}
	if label == proto.LabelPneumonia {
		r.Probability = 0.8
	}
	if label == "" {
		r.Status, r.StatusCode, r.Error = proto.StatusError, 500, "model runtime failed"
	}
	return r
}

func fb(id, req, typ, gt string, at time.Time) *proto.FeedbackRecorded {
	f := &proto.FeedbackRecorded{FeedbackID: id, RequestID: req, FeedbackType: typ, GroundTruth: gt, RadiologistID: "DR001", Source: "api", RecordedAt: at}
	if typ != "" {
		f.GroundTruth, _ = proto.GroundTruthOf(typ)
	}
	return f
}

func publishResult(t testing.TB, js jetstream.JetStream, r *proto.InferenceResult) {
	t.Helper()
	if _, err := bus.Publish(t.Context(), js, proto.InferenceResultSubject(r.Arm), r); err != nil {
		t.Fatal(err)
	}
}

func resultMsg(r *proto.InferenceResult) *nats.Msg {
	m, err := bus.NewMsg(proto.InferenceResultSubject(r.Arm), r)
	if err != nil {
		panic(err) // the test built an invalid event
	}
	return m
}

// feedbackMsg builds the message of a recorded feedback. A non-empty msgID
// replaces the event's Nats-Msg-Id: the stream then stores a second copy, as
// a redelivery or a publish repeated after the duplicate window would.
func feedbackMsg(f *proto.FeedbackRecorded, msgID string) *nats.Msg {
	m, err := bus.NewMsg(proto.SubjectFeedbackRecorded, f)
	if err != nil {
		panic(err)
	}
	if msgID != "" {
		m.Header.Set(proto.HeaderMsgID, msgID)
	}
	return m
}

// publishFeedback publishes a recorded feedback (see feedbackMsg for msgID).
func publishFeedback(t testing.TB, js jetstream.JetStream, f *proto.FeedbackRecorded, msgID string) {
	t.Helper()
	if _, err := js.PublishMsg(t.Context(), feedbackMsg(f, msgID)); err != nil {
		t.Fatal(err)
	}
}

// consumersDone reports an error until both evaluator consumers have acked
// everything in their streams.
func consumersDone(ctx context.Context, js jetstream.JetStream) error {
	for _, c := range []struct{ stream, name string }{
		{proto.StreamInference, proto.ConsumerEvaluatorResults},
		{proto.StreamFeedback, proto.ConsumerEvaluatorFeedback},
	} {
		cons, err := js.Consumer(ctx, c.stream, c.name)
		if err != nil {
			return err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("%s: %d pending, %d unacknowledged", c.name, info.NumPending, info.NumAckPending)
		}
	}
	return nil
}

func waitDrained(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error { return consumersDone(t.Context(), js) })
}

func arm(snap proto.MetricsSnapshot, name string) proto.ModelMetrics {
	for _, m := range snap.Models {
		if m.Arm == name {
			return m
		}
	}
	return proto.ModelMetrics{}
}

// counts is the part of ModelMetrics a test states exactly.
type counts struct {
	Predictions, Errors, Served, Feedback, Inconsistent int
	Confusion                                           proto.Confusion
}

func countsOf(m proto.ModelMetrics) counts {
	return counts{m.Predictions, m.Errors, m.Served, m.Feedback, m.Inconsistent, m.Confusion}
}

// waitCounts polls the experiment's snapshot until the arm has want.
func waitCounts(t *testing.T, svc *evaluator.Service, exp, armName string, want counts) proto.MetricsSnapshot {
	t.Helper()
	var snap proto.MetricsSnapshot
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		snap = svc.Snapshot(exp)
		if got := countsOf(arm(snap, armName)); got != want {
			return fmt.Errorf("%s/%s: got %+v, want %+v", exp, armName, got, want)
		}
		return nil
	})
	return snap
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
