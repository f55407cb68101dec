package tablewriter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/blob/s3blob"
	"github.com/healthcare-ai/platform/blob/s3test"
	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/tablewriter"
	"github.com/healthcare-ai/platform/tables"
)

var day1 = time.Date(2026, 11, 27, 23, 59, 0, 0, time.UTC)

func testConfig() tablewriter.Config {
	cfg := tablewriter.DefaultConfig()
	cfg.FlushRows = 40
	cfg.FlushInterval = 100 * time.Millisecond
	cfg.AckWait = 2 * time.Second
	cfg.RetryMin = 10 * time.Millisecond
	cfg.RetryMax = 100 * time.Millisecond
	cfg.OpTimeout = 2 * time.Second
	cfg.ShutdownTimeout = 2 * time.Second
	return cfg
}

type running struct {
	svc    *tablewriter.Service
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func start(t *testing.T, js jetstream.JetStream, store blob.Store, cfg tablewriter.Config) *running {
	t.Helper()
	svc, err := tablewriter.New(cfg, tablewriter.Deps{JS: js, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{svc: svc, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- svc.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("table writer did not stop within 10s")
		}
	})
}

func newDir(t *testing.T) *blob.Dir {
	t.Helper()
	d, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func publish(t *testing.T, js jetstream.JetStream, subject string, e proto.Event) {
	t.Helper()
	if _, err := bus.Publish(t.Context(), js, subject, e); err != nil {
		t.Fatal(err)
	}
}

func result(i int) *proto.InferenceResult {
	arm := proto.Arms[i%2]
	at := day1.Add(time.Duration(i) * time.Second) // crosses midnight: two partitions
	return &proto.InferenceResult{
		RequestID: fmt.Sprintf("req-%05d", i), Experiment: "pneumonia", Arm: arm, Served: true,
		ConfiguredSplit: proto.Split{Champion: 50, Challenger: 50},
		ModelName:       "pneumonia-" + arm, ModelVersion: "1", Status: proto.StatusOK, StatusCode: 200,
		Label: proto.LabelPneumonia, Probability: 0.8, Threshold: 0.5, LatencyMS: 3.5,
		Image:    proto.ImageRef{Key: "bronze/images/x.jpeg", URI: "file:///x.jpeg", SHA256: "ab", Format: "jpeg", Width: 1024, Height: 1024},
		RoutedAt: at.Add(-time.Second), CompletedAt: at,
	}
}

// countRows reads a table and returns its rows per request id.
func countRows(t *testing.T, store blob.Store) map[string]int {
	t.Helper()
	rows, err := tables.ReadTable[proto.InferenceLogRow](context.Background(), store, proto.TableInferenceLog)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, r := range rows {
		n[r.RequestID+"/"+r.Arm]++
	}
	return n
}

// waitExactlyOnce waits until the inference log holds rows 0..n-1 and checks
// that none is duplicated.
func waitExactlyOnce(t *testing.T, store blob.Store, n int) {
	t.Helper()
	bustest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		got := countRows(t, store)
		if len(got) < n {
			return fmt.Errorf("inference log has %d of %d requests", len(got), n)
		}
		return nil
	})
	got := countRows(t, store)
	if len(got) != n {
		t.Fatalf("inference log has %d distinct requests, want %d", len(got), n)
	}
	for id, c := range got {
		if c != 1 {
			t.Fatalf("request %s has %d rows, want 1", id, c)
		}
	}
}

// stores are the blob stores every behaviour test runs against: the local
// folder and a real S3 server (MinIO, started on loopback).
var stores = []struct {
	name string
	open func(t *testing.T) blob.Store
}{
	{"dir", func(t *testing.T) blob.Store { return newDir(t) }},
	{"s3", func(t *testing.T) blob.Store { return s3test.Start(t).NewStore(t, "hap-lake", "hap/dev") }},
}

func TestWritesEveryTable(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { testWritesEveryTable(t, st.open(t)) })
	}
}

func testWritesEveryTable(t *testing.T, store blob.Store) {
	env := bustest.Start(t)
	const n = 100
	for i := range n {
		publish(t, env.JS, proto.InferenceResultSubject(proto.Arms[i%2]), result(i))
	}
	at := day1.Add(2 * time.Minute)
	for i := range 30 {
		publish(t, env.JS, proto.SubjectImageIngested, &proto.ImageIngested{
			RequestID: fmt.Sprintf("req-%05d", i), ImageID: "sha", Source: proto.SourceFolder, IngestedAt: at,
			Image: proto.ImageRef{Key: "bronze/images/a.jpeg", SHA256: "sha", Width: 900, Height: 1100, Format: "jpeg", SizeBytes: 1234},
		})
	}
	publish(t, env.JS, proto.SubjectImageRejected, &proto.ImageRejected{
		RequestID: "bad-1", Source: proto.SourceUpload, ReasonCode: proto.RejectUndecodable, Reason: "not a JPEG", RejectedAt: at,
	})
	conf := 0.9
	for i := range 20 {
		publish(t, env.JS, proto.SubjectFeedbackRecorded, &proto.FeedbackRecorded{
			FeedbackID: fmt.Sprintf("fb-%d", i), RequestID: fmt.Sprintf("req-%05d", i), GroundTruth: proto.LabelNormal,
			Source: "radiologist", RadiologistID: "dr-a", Confidence: &conf, RecordedAt: at,
		})
	}
	snap := &proto.MetricsSnapshot{SnapshotID: "s1", Experiment: "pneumonia", Mode: proto.ModeSplit, GeneratedAt: at,
		Models: []proto.ModelMetrics{{Arm: proto.ArmChampion, Predictions: 50, Feedback: 10, Confusion: proto.Confusion{TP: 4, TN: 4, FP: 1, FN: 1}},
			{Arm: proto.ArmChallenger, Predictions: 50, Feedback: 10, Confusion: proto.Confusion{TP: 5, TN: 5}}}}
	publish(t, env.JS, proto.MetricsExperimentSubject("pneumonia"), snap)
	publish(t, env.JS, proto.DecisionSubject("pneumonia"), &proto.DecisionEvent{
		DecisionID: "pneumonia:1:7", Experiment: "pneumonia", Epoch: 1, Action: proto.ActionPromote, Outcome: proto.OutcomeExecuted,
		Actor: "rollout-controller", SplitBefore: proto.Split{Champion: 50, Challenger: 50}, SplitAfter: proto.Split{Champion: 30, Challenger: 70},
		PValue: 0.01, DecidedAt: at,
	})

	w := start(t, env.JS, store, testConfig())
	waitExactlyOnce(t, store, n)
	ctx := t.Context()
	bustest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		imgs, err := tables.ReadTable[proto.XRayImageRow](ctx, store, proto.TableXRayImages)
		if err != nil || len(imgs) != 31 {
			return fmt.Errorf("xray_images: %d rows, %v", len(imgs), err)
		}
		fb, err := tables.ReadTable[proto.PredictionFeedbackRow](ctx, store, proto.TablePredictionFeedback)
		if err != nil || len(fb) != 20 {
			return fmt.Errorf("prediction_feedback: %d rows, %v", len(fb), err)
		}
		perf, err := tables.ReadTable[proto.ModelPerformanceRow](ctx, store, proto.TableModelPerformance)
		if err != nil || len(perf) != 2 {
			return fmt.Errorf("model_performance: %d rows, %v", len(perf), err)
		}
		dec, err := tables.ReadTable[proto.ExperimentDecisionRow](ctx, store, proto.TableExperimentDecisions)
		if err != nil || len(dec) != 1 || dec[0].SplitAfter != "30/70" || dec[0].Action != proto.ActionPromote {
			return fmt.Errorf("experiment_decisions: %+v, %v", dec, err)
		}
		return nil
	})
	// Rows land in the partition of their event date.
	parts, err := tables.ListParts(ctx, store, proto.TableInferenceLog)
	if err != nil {
		t.Fatal(err)
	}
	dates := map[string]bool{}
	for _, p := range parts {
		dates[p.Date] = true
	}
	if !dates["2026-11-27"] || !dates["2026-11-28"] || len(dates) != 2 {
		t.Fatalf("inference log partitions %v, want 2026-11-27 and 2026-11-28", dates)
	}
	rows, _ := tables.ReadTable[proto.InferenceLogRow](ctx, store, proto.TableInferenceLog)
	for _, r := range rows {
		if proto.PartitionDate(r.CompletedAt) == "" || r.ConfiguredSplit != "50/50" || r.ServedModelName == "" || !strings.Contains(r.Response, `"label":"PNEUMONIA"`) {
			t.Fatalf("bad inference row %+v", r)
		}
	}
	imgs, _ := tables.ReadTable[proto.XRayImageRow](ctx, store, proto.TableXRayImages)
	var rejected int
	for _, r := range imgs {
		if r.Status == proto.ImageStatusRejected {
			rejected++
			if r.RejectedCode != proto.RejectUndecodable || r.RejectedReason != "not a JPEG" {
				t.Fatalf("rejected row %+v", r)
			}
		}
	}
	if rejected != 1 {
		t.Fatalf("%d rejected rows, want 1", rejected)
	}
	for _, st := range w.svc.Stats() {
		if st.Pending != 0 || st.Committed == 0 {
			t.Errorf("stats %+v: want nothing pending and a checkpoint", st)
		}
	}
}

func TestRestartWritesEachRowOnce(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { testRestartWritesEachRowOnce(t, st.open(t)) })
	}
}

func testRestartWritesEachRowOnce(t *testing.T, store blob.Store) {
	env := bustest.Start(t)
	cfg := testConfig()
	cfg.Tables = []string{"inference_log"}
	w := start(t, env.JS, store, cfg)
	for i := range 150 {
		publish(t, env.JS, proto.InferenceResultSubject(proto.Arms[i%2]), result(i))
	}
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if len(countRows(t, store)) == 0 {
			return errors.New("nothing written yet")
		}
		return nil
	})
	w.stop(t)
	for i := 150; i < 300; i++ {
		publish(t, env.JS, proto.InferenceResultSubject(proto.Arms[i%2]), result(i))
	}
	start(t, env.JS, store, cfg)
	waitExactlyOnce(t, store, 300)
}

// flakyStore fails every Put while down is set, and Puts of the checkpoint
// while failCheckpoints is set.
type flakyStore struct {
	blob.Store
	down            atomic.Bool
	failCheckpoints atomic.Bool
	failed          atomic.Int64
}

func (s *flakyStore) Put(ctx context.Context, key string, data []byte) error {
	if s.down.Load() || (s.failCheckpoints.Load() && strings.Contains(key, "_checkpoints")) {
		s.failed.Add(1)
		return fmt.Errorf("put %s: injected outage", key)
	}
	return s.Store.Put(ctx, key, data)
}

func TestStoreOutageLosesNothing(t *testing.T) {
	env := bustest.Start(t)
	store := &flakyStore{Store: newDir(t)}
	cfg := testConfig()
	cfg.Tables = []string{"inference_log"}
	start(t, env.JS, store, cfg)
	for i := range 100 {
		publish(t, env.JS, proto.InferenceResultSubject(proto.Arms[i%2]), result(i))
	}
	waitExactlyOnce(t, store, 100)
	store.down.Store(true)
	for i := 100; i < 250; i++ {
		publish(t, env.JS, proto.InferenceResultSubject(proto.Arms[i%2]), result(i))
	}
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if store.failed.Load() < 5 {
			return fmt.Errorf("%d failed puts so far", store.failed.Load())
		}
		return nil
	})
	if got := len(countRows(t, store)); got != 100 {
		t.Fatalf("%d requests in the table during the outage, want 100", got)
	}
	store.down.Store(false)
	waitExactlyOnce(t, store, 250)
}

func TestCrashBeforeCheckpointWritesOnce(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { testCrashBeforeCheckpointWritesOnce(t, st.open(t)) })
	}
}

func testCrashBeforeCheckpointWritesOnce(t *testing.T, dir blob.Store) {
	env := bustest.Start(t)
	store := &flakyStore{Store: dir}
	cfg := testConfig()
	cfg.Tables = []string{"inference_log"}
	cfg.ShutdownTimeout = 200 * time.Millisecond
	store.failCheckpoints.Store(true)
	w := start(t, env.JS, store, cfg)
	for i := range 120 {
		publish(t, env.JS, proto.InferenceResultSubject(proto.Arms[i%2]), result(i))
	}
	// A batch's parts get written and its checkpoint fails (the writer retries
	// it): the state a crash between the two leaves.
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if len(countRows(t, dir)) < cfg.FlushRows || store.failed.Load() == 0 {
			return fmt.Errorf("%d requests in uncommitted parts", len(countRows(t, dir)))
		}
		return nil
	})
	w.stop(t)
	for i := 120; i < 200; i++ {
		publish(t, env.JS, proto.InferenceResultSubject(proto.Arms[i%2]), result(i))
	}
	w2 := start(t, env.JS, dir, cfg)
	waitExactlyOnce(t, dir, 200)
	var recovered int
	for _, st := range w2.svc.Stats() {
		recovered += st.Recovered
	}
	if recovered == 0 {
		t.Fatal("restart removed no uncommitted part; the test did not exercise recovery")
	}
}

func TestInvalidEventIsDeadLetteredNotLost(t *testing.T) {
	env := bustest.Start(t)
	store := newDir(t)
	cfg := testConfig()
	cfg.Tables = []string{"inference_log"}
	w := start(t, env.JS, store, cfg)
	publish(t, env.JS, proto.InferenceResultSubject(proto.ArmChampion), result(0))
	if _, err := env.JS.Publish(t.Context(), proto.InferenceResultSubject(proto.ArmChampion), []byte(`{"request_id": "broken", "arm": "nobody"}`)); err != nil {
		t.Fatal(err)
	}
	publish(t, env.JS, proto.InferenceResultSubject(proto.ArmChallenger), result(1))
	waitExactlyOnce(t, store, 2)
	st, err := env.JS.Stream(t.Context(), proto.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(t.Context(), proto.DeadLetterSubject(proto.TableConsumer(proto.TableInferenceLog)))
	if err != nil {
		t.Fatalf("the invalid event was not dead-lettered: %v", err)
	}
	if !strings.Contains(string(m.Data), "broken") || !strings.Contains(m.Header.Get(proto.HeaderDeadReason), "arm") {
		t.Fatalf("dead letter %q reason %q", m.Data, m.Header.Get(proto.HeaderDeadReason))
	}
	var dl int64
	for _, s := range w.svc.Stats() {
		dl += s.DeadLettered
	}
	if dl != 1 {
		t.Fatalf("dead-lettered %d, want 1", dl)
	}
}

func TestConfigErrors(t *testing.T) {
	env := bustest.Start(t)
	for name, mutate := range map[string]func(*tablewriter.Config){
		"unknown table": func(c *tablewriter.Config) { c.Tables = []string{"gold.nope"} },
		"ack_wait":      func(c *tablewriter.Config) { c.AckWait = c.FlushInterval },
		"flush_rows":    func(c *tablewriter.Config) { c.FlushRows = -1 },
	} {
		cfg := testConfig()
		mutate(&cfg)
		if _, err := tablewriter.New(cfg, tablewriter.Deps{JS: env.JS, Store: newDir(t)}); err == nil {
			t.Errorf("%s: New accepted a bad config", name)
		}
	}
}

// TestS3OutageLosesNothing stops the S3 server during a run: the writer
// retries, and after the restart every row is in the table exactly once.
func TestS3OutageLosesNothing(t *testing.T) {
	env := bustest.Start(t)
	srv := s3test.Start(t)
	cfg := srv.Config("hap-lake", "hap/dev")
	cfg.CreateBucket = true
	cfg.MaxAttempts = 2 // the writer retries too; keep one operation short
	store, err := s3blob.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	wcfg := testConfig()
	wcfg.Tables = []string{"inference_log"}
	wcfg.OpTimeout = time.Second
	w := start(t, env.JS, store, wcfg)
	for i := range 100 {
		publish(t, env.JS, proto.InferenceResultSubject(proto.Arms[i%2]), result(i))
	}
	waitExactlyOnce(t, store, 100)

	srv.Stop()
	for i := 100; i < 300; i++ {
		publish(t, env.JS, proto.InferenceResultSubject(proto.Arms[i%2]), result(i))
	}
	retried := func() int64 {
		var n int64
		for _, s := range w.svc.Stats() {
			n += s.Retries
		}
		return n
	}
	bustest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if retried() < 3 {
			return fmt.Errorf("%d store retries so far", retried())
		}
		return nil
	})
	srv.Restart()
	waitExactlyOnce(t, store, 300)
	t.Logf("writer retried %d store operations during the outage", retried())
}
