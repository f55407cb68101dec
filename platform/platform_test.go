package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/platform"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/feedback/client"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/tables/query"
	"github.com/healthcare-ai/platform/xray/synth"
)

// modelsDir is the folder of the committed models.
const modelsDir = "../models"

// dataOnce holds the data sets generated during this package's run (n -> root).
var dataOnce sync.Map

func TestMain(m *testing.M) {
	code := m.Run()
	dataOnce.Range(func(_, v any) bool {
		os.RemoveAll(filepath.Dir(v.(string)))
		return true
	})
	os.Exit(code)
}

// dataset generates n normal and n pneumonia test images once per package run.
func dataset(t *testing.T, n int) string {
	t.Helper()
	if v, ok := dataOnce.Load(n); ok {
		return v.(string)
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("hap-e2e-%d-%d", os.Getpid(), n))
	o := synth.DefaultOptions()
	o.Train, o.Val = synth.Counts{}, synth.Counts{}
	o.Test = synth.Counts{Normal: n, Pneumonia: n}
	// Smaller images than the default keep the test quick; the pipeline and
	// models are the same (preprocessing picks a smaller block size).
	o.MinSize, o.MaxSize = 520, 700
	o.Seed = 99
	res, err := synth.Generate(t.Context(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	dataOnce.Store(n, res.Root)
	return res.Root
}

func startPlatform(t *testing.T, dataDir string, mutate ...func(*platform.Config)) *platform.Platform {
	t.Helper()
	cfg := platform.DefaultConfig()
	cfg.DataDir = dataDir
	cfg.NATSPort = -1
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ModelsDir = modelsDir
	cfg.SyncAlways = false
	cfg.PatientSalt = "test-salt-0123456789abcdef"
	cfg.Tables.FlushInterval = 200 * time.Millisecond
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := platform.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkTablesAgree waits until the SQL comparison report over the Parquet
// tables (DuckDB) equals the evaluator's live metrics.
func checkTablesAgree(t *testing.T, p *platform.Platform) {
	t.Helper()
	root := strings.TrimSuffix(strings.TrimPrefix(p.Blobs.URI(proto.TablesRoot), "file://"), "/"+proto.TablesRoot)
	bustest.CheckFor(t, time.Minute, 250*time.Millisecond, func() error {
		db, err := query.Open(t.Context(), root)
		if err != nil {
			return err
		}
		defer db.Close()
		cmp, err := db.Comparison(t.Context())
		if err != nil {
			return err
		}
		return query.CheckAgainst(cmp, p.Evaluator.Snapshot("pneumonia"))
	})
}

// streamEvents reads every message of a subject from a stream.
func streamEvents(t *testing.T, js jetstream.JetStream, stream, subject string) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, n := range info.State.Subjects {
		want += int(n)
	}
	if want == 0 {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for len(out) < want {
		batch, err := cons.Fetch(min(want-len(out), 500), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			out = append(out, m.Data())
		}
		if batch.Error() != nil {
			t.Fatal(batch.Error())
		}
	}
	return out
}

type truthAndResults struct {
	truth   map[string]string                  // request_id -> dataset label
	results map[string][]proto.InferenceResult // request_id -> results
}

func collect(t *testing.T, p *platform.Platform) truthAndResults {
	t.Helper()
	tr := truthAndResults{truth: map[string]string{}, results: map[string][]proto.InferenceResult{}}
	for _, data := range streamEvents(t, p.JS, proto.StreamXRay, proto.SubjectImageIngested) {
		var ev proto.ImageIngested
		if err := proto.Decode(data, &ev); err != nil {
			t.Fatal(err)
		}
		tr.truth[ev.RequestID] = ev.DatasetLabel
	}
	for _, data := range streamEvents(t, p.JS, proto.StreamInference, proto.InferenceResultsAll) {
		var r proto.InferenceResult
		if err := proto.Decode(data, &r); err != nil {
			t.Fatal(err)
		}
		tr.results[r.RequestID] = append(tr.results[r.RequestID], r)
	}
	return tr
}

func waitPredictions(t *testing.T, p *platform.Platform, want int) {
	t.Helper()
	bustest.CheckFor(t, 3*time.Minute, 50*time.Millisecond, func() error {
		got := 0
		for _, m := range p.Evaluator.Snapshot("pneumonia").Models {
			got += m.Predictions + m.Errors
		}
		if got != want {
			return fmt.Errorf("evaluator counts %d predictions, want %d", got, want)
		}
		return nil
	})
}

func feedbackType(pred, truth string) string {
	switch {
	case pred == proto.LabelPneumonia && truth == proto.LabelPneumonia:
		return proto.FeedbackTruePositive
	case pred == proto.LabelPneumonia:
		return proto.FeedbackFalsePositive
	case truth == proto.LabelNormal:
		return proto.FeedbackTrueNegative
	}
	return proto.FeedbackFalseNegative
}

// expected computes the per-arm metrics independently of the evaluator.
func expected(tr truthAndResults, answered map[string]bool) map[string]proto.ModelMetrics {
	out := map[string]proto.ModelMetrics{}
	for id, rs := range tr.results {
		for _, r := range rs {
			m := out[r.Arm]
			m.Predictions++
			if answered[id] {
				m.Feedback++
				m.Confusion.Add(r.Label, tr.truth[id], 1)
			}
			out[r.Arm] = m
		}
	}
	return out
}

// TestEndToEnd sends generated X-rays through the whole platform with the
// committed models and checks one result per image, every feedback joined
// exactly once, and metrics equal to those computed from the known labels.
func TestEndToEnd(t *testing.T) {
	const perClass = 100
	root := dataset(t, perClass)
	p := startPlatform(t, t.TempDir())
	defer p.Stop(context.Background())

	sum, err := p.Ingestor.IngestDir(t.Context(), root, ingestor.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 2*perClass || sum.Files != 2*perClass {
		t.Fatalf("ingest summary %+v, want %d accepted", sum, 2*perClass)
	}
	waitPredictions(t, p, 2*perClass)
	tr := collect(t, p)
	if len(tr.results) != 2*perClass {
		t.Fatalf("%d requests have results, want %d", len(tr.results), 2*perClass)
	}
	correct := 0
	for id, rs := range tr.results {
		if len(rs) != 1 {
			t.Fatalf("request %s has %d results, want 1", id, len(rs))
		}
		r := rs[0]
		if r.Status != proto.StatusOK || !r.Served || r.ModelName == "" {
			t.Fatalf("result %+v", r)
		}
		if r.Label == tr.truth[id] {
			correct++
		}
	}
	// The committed models are far better than chance on held-out images.
	if acc := float64(correct) / float64(2*perClass); acc < 0.7 {
		t.Errorf("overall accuracy %.3f on generated images, want >= 0.7", acc)
	}

	// Radiologists answer 80% of the requests through the HTTP API; some
	// answers are submitted twice (a double click) and must count once.
	cl, err := client.New("http://" + p.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	answered := map[string]bool{}
	i := 0
	for id, rs := range tr.results {
		i++
		if i%5 == 0 {
			continue
		}
		ft := feedbackType(rs[0].Label, tr.truth[id])
		for range 1 + i%7/6 {
			if _, err := cl.SubmitFeedback(t.Context(), id, ft, client.RadiologistID("DR001")); err != nil {
				t.Fatal(err)
			}
		}
		answered[id] = true
	}
	// Feedback for a request that does not exist is kept, not counted.
	if _, err := cl.SubmitFeedback(t.Context(), "no-such-request", proto.FeedbackTruePositive); err != nil {
		t.Fatal(err)
	}
	want := expected(tr, answered)
	bustest.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		snap := p.Evaluator.Snapshot("pneumonia")
		if snap.PendingFeedback != 1 {
			return fmt.Errorf("pending feedback %d, want 1", snap.PendingFeedback)
		}
		for _, m := range snap.Models {
			w := want[m.Arm]
			if m.Predictions != w.Predictions || m.Feedback != w.Feedback || m.Confusion != w.Confusion {
				return fmt.Errorf("arm %s: evaluator predictions %d feedback %d confusion %+v; want %d %d %+v",
					m.Arm, m.Predictions, m.Feedback, m.Confusion, w.Predictions, w.Feedback, w.Confusion)
			}
		}
		return nil
	})
	snap := p.Evaluator.Snapshot("pneumonia")
	total := 0
	for _, m := range snap.Models {
		total += m.Predictions
		if m.Predictions == 0 {
			t.Errorf("arm %s served nothing under a 50/50 split", m.Arm)
		}
		if m.TrafficConfigured != 0.5 {
			t.Errorf("arm %s configured traffic %v, want 0.5", m.Arm, m.TrafficConfigured)
		}
		if d := m.TrafficActual - 0.5; d > 0.15 || d < -0.15 {
			t.Errorf("arm %s actual traffic %v, far from 0.5", m.Arm, m.TrafficActual)
		}
		w := want[m.Arm]
		if got, wantAcc := m.Accuracy, w.Confusion.Accuracy(); got != wantAcc {
			t.Errorf("arm %s accuracy %v, want %v", m.Arm, got, wantAcc)
		}
	}
	if total != 2*perClass {
		t.Errorf("predictions total %d", total)
	}

	// The same numbers over HTTP.
	resp, err := http.Get("http://" + p.HTTPAddr().String() + "/v1/metrics/pneumonia")
	if err != nil {
		t.Fatal(err)
	}
	var httpSnap proto.MetricsSnapshot
	if err := json.NewDecoder(resp.Body).Decode(&httpSnap); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for i, m := range httpSnap.Models {
		if m.Confusion != snap.Models[i].Confusion || m.Predictions != snap.Models[i].Predictions {
			t.Errorf("HTTP metrics differ from the evaluator's: %+v vs %+v", m, snap.Models[i])
		}
	}

	// And in the lakehouse tables, through SQL.
	checkTablesAgree(t, p)
}

func upload(t *testing.T, url, name string, data []byte) *http.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("image", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(url, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestSyncPredictAndBadInput checks the synchronous API and that bad uploads
// get a clear error and a rejected event, without stopping the platform.
func TestSyncPredictAndBadInput(t *testing.T) {
	root := dataset(t, 100)
	p := startPlatform(t, t.TempDir())
	defer p.Stop(context.Background())
	base := "http://" + p.HTTPAddr().String()
	files, _ := filepath.Glob(filepath.Join(root, "test", "PNEUMONIA", "*.jpeg"))
	if len(files) < 2 {
		t.Fatal("no generated images")
	}
	resp := upload(t, base+"/v1/predict", filepath.Base(files[0]), mustRead(t, files[0]))
	var pr ingestor.PredictResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || pr.RequestID == "" || pr.ModelName == "" || pr.ModelVersion == "" ||
		!proto.ValidArm(pr.Arm) || !proto.ValidLabel(pr.Label) || pr.Probability < 0 || pr.Probability > 1 {
		t.Fatalf("predict: %d %+v", resp.StatusCode, pr)
	}

	resp = upload(t, base+"/v1/predict", "notes.jpeg", []byte("not an image at all"))
	var e problem.Problem
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 || resp.Header.Get("Content-Type") != problem.ContentType || e.Type == "" || e.Detail == "" {
		t.Fatalf("bad upload: %d %+v", resp.StatusCode, e)
	}
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := len(streamEvents(t, p.JS, proto.StreamXRay, proto.SubjectImageRejected)); n != 1 {
			return fmt.Errorf("%d rejected events, want 1", n)
		}
		return nil
	})
	// The platform still serves after the bad input.
	resp = upload(t, base+"/v1/predict", filepath.Base(files[1]), mustRead(t, files[1]))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("predict after bad input: %d", resp.StatusCode)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRestartMidRun stops the whole platform in the middle of a run (images
// still being ingested, predicted and answered), starts it again on the same
// state, and checks that every image got exactly one inference result and
// every feedback was counted exactly once.
func TestRestartMidRun(t *testing.T) {
	const perClass = 100
	root := dataset(t, perClass)
	state := t.TempDir()
	p := startPlatform(t, state)
	ingestDone := make(chan error, 1)
	go func() {
		_, err := p.Ingestor.IngestDir(t.Context(), root, ingestor.DirOptions{Concurrency: 1})
		ingestDone <- err
	}()
	// Stop once some, but not all, predictions are in.
	bustest.CheckFor(t, 2*time.Minute, 10*time.Millisecond, func() error {
		got := 0
		for _, m := range p.Evaluator.Snapshot("pneumonia").Models {
			got += m.Predictions
		}
		if got < 40 {
			return fmt.Errorf("%d predictions", got)
		}
		return nil
	})
	// Answer what is known so far, then stop mid-stream.
	cl, err := client.New("http://" + p.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	answered := map[string]bool{}
	answer := func(p *platform.Platform, cl *client.Client, tr truthAndResults) {
		for id, rs := range tr.results {
			if answered[id] || len(id)%4 == 0 {
				continue
			}
			if _, err := cl.SubmitFeedback(t.Context(), id, feedbackType(rs[0].Label, tr.truth[id]), client.RadiologistID("DR002")); err != nil {
				t.Fatal(err)
			}
			answered[id] = true
		}
	}
	answer(p, cl, collect(t, p))
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	<-ingestDone // fails part-way: the platform went away under it

	p2 := startPlatform(t, state)
	defer p2.Stop(context.Background())
	// Ingesting the folder again completes it; what was ingested before is
	// de-duplicated, not processed twice.
	sum, err := p2.Ingestor.IngestDir(t.Context(), root, ingestor.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 2*perClass {
		t.Fatalf("second ingestion accepted %d, want %d (%+v)", sum.Accepted, 2*perClass, sum)
	}
	waitPredictions(t, p2, 2*perClass)
	cl2, err := client.New("http://" + p2.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	tr := collect(t, p2)
	// Answers given before the restart are re-sent by a confused client:
	// they must not count twice.
	for id := range answered {
		if _, err := cl2.SubmitFeedback(t.Context(), id, feedbackType(tr.results[id][0].Label, tr.truth[id]), client.RadiologistID("DR002")); err != nil {
			t.Fatal(err)
		}
	}
	answer(p2, cl2, tr)
	if len(tr.truth) != 2*perClass || len(tr.results) != 2*perClass {
		t.Fatalf("%d ingested, %d with results; want %d", len(tr.truth), len(tr.results), 2*perClass)
	}
	for id, rs := range tr.results {
		if len(rs) != 1 {
			t.Fatalf("request %s has %d results after the restart, want exactly 1", id, len(rs))
		}
	}
	want := expected(tr, answered)
	bustest.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		for _, m := range p2.Evaluator.Snapshot("pneumonia").Models {
			w := want[m.Arm]
			if m.Predictions != w.Predictions || m.Feedback != w.Feedback || m.Confusion != w.Confusion {
				return fmt.Errorf("arm %s: predictions %d feedback %d confusion %+v; want %d %d %+v",
					m.Arm, m.Predictions, m.Feedback, m.Confusion, w.Predictions, w.Feedback, w.Confusion)
			}
		}
		return nil
	})
	// Across the restart every result and feedback is in the tables once.
	checkTablesAgree(t, p2)
}
