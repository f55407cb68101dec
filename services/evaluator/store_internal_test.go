package evaluator

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
)

func runInternal(t testing.TB, env *bustest.Env) *Service {
	t.Helper()
	cfg := DefaultConfig()
	cfg.HTTPAddr = ""
	cfg.PublishInterval = 50 * time.Millisecond
	svc, err := New(cfg, Deps{JS: env.JS})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-svc.Ready():
	case err := <-errc:
		t.Fatalf("Run: %v", err)
	}
	return svc
}

func okResult(req string) *proto.InferenceResult {
	at := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	return &proto.InferenceResult{RequestID: req, Experiment: "e", Arm: proto.ArmChampion, Served: true,
		ConfiguredSplit: proto.Split{Champion: 100}, ModelName: "m", ModelVersion: "1",
		Status: proto.StatusOK, Label: proto.LabelPneumonia, RoutedAt: at, CompletedAt: at}
}

// A write whose outcome was unknown is settled by the next update of its key:
// counted if it had been stored, forgotten if not, never twice.
func TestUnsureWriteIsSettled(t *testing.T) {
	env := bustest.Start(t)
	svc := runInternal(t, env)
	ctx := t.Context()

	// u1: the write reached the server, but the writer saw an error.
	landed := newState("u1")
	mergeResult(landed, okResult("u1"))
	data, err := json.Marshal(landed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.kv.Create(ctx, StateKey("u1"), data); err != nil {
		t.Fatal(err)
	}
	// u2: the write never reached the server.
	lost := newState("u2")
	mergeResult(lost, okResult("u2"))
	lostData, _ := json.Marshal(lost)
	svc.unsureMu.Lock()
	svc.unsure[StateKey("u1")] = unsureWrite{cur: landed, data: data}
	svc.unsure[StateKey("u2")] = unsureWrite{cur: lost, data: lostData}
	svc.unsureMu.Unlock()

	// The redeliveries of both results, and a feedback on u1.
	for _, req := range []string{"u1", "u2"} {
		if _, err := bus.Publish(ctx, env.JS, proto.InferenceResultSubject(proto.ArmChampion), okResult(req)); err != nil {
			t.Fatal(err)
		}
	}
	f := &proto.FeedbackRecorded{FeedbackID: "f1", RequestID: "u1", FeedbackType: proto.FeedbackTruePositive,
		GroundTruth: proto.LabelPneumonia, Source: "api", RecordedAt: time.Now()}
	if _, err := bus.Publish(ctx, env.JS, proto.SubjectFeedbackRecorded, f); err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		m := svc.Snapshot("e").Models[0]
		if m.Predictions != 2 || m.Feedback != 1 || m.Confusion.TP != 1 {
			return fmt.Errorf("champion %+v", m)
		}
		svc.unsureMu.Lock()
		defer svc.unsureMu.Unlock()
		if len(svc.unsure) != 0 {
			return fmt.Errorf("%d unsure writes left", len(svc.unsure))
		}
		return nil
	})
}

// BenchmarkRebuild measures the start-up scan of the state bucket
// (go test -run - -bench Rebuild ./services/evaluator).
func BenchmarkRebuild(b *testing.B) {
	const states = 50_000
	env := bustest.Start(b)
	svc, err := New(DefaultConfig(), Deps{JS: env.JS})
	if err != nil {
		b.Fatal(err)
	}
	kv, err := svc.openBucket(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	svc.kv = kv
	js, err := jetstream.New(env.Conn, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	for i := range states {
		st := newState(fmt.Sprintf("req-%06d", i))
		mergeResult(st, okResult(st.RequestID))
		_, _ = mergeFeedback(st, &proto.FeedbackRecorded{FeedbackID: "f", RequestID: st.RequestID, FeedbackType: proto.FeedbackTruePositive,
			GroundTruth: proto.LabelPneumonia, RecordedAt: time.Now()}, 10)
		st.Verdict = Judge(st, PolicyLatest)
		data, _ := json.Marshal(st)
		if _, err := js.PublishAsync("$KV."+proto.BucketEvaluatorState+"."+StateKey(st.RequestID), data); err != nil {
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	b.ResetTimer()
	for range b.N {
		svc.agg = newAggregates()
		n, err := svc.rebuild(b.Context())
		if err != nil || n != states {
			b.Fatalf("rebuilt %d states: %v", n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*states), "ns/state")
}
