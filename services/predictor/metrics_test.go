package predictor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/model/onnxrt"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/predictor"
	"github.com/healthcare-ai/platform/trace"
)

// TestPredictorMetricsAndTrace checks that the latency histogram counts
// one sample per successful result and arm, the results counter counts
// failures apart, and each result keeps its request's trace id with a new
// span id.
func TestPredictorMetricsAndTrace(t *testing.T) {
	lib, err := onnxrt.LibraryPath()
	if err != nil {
		t.Fatal(err)
	}
	if err := onnxrt.Init(lib); err != nil {
		t.Fatal(err)
	}
	env := bustest.Start(t)
	blobs, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := newSource()
	src.set(t, proto.ArmChampion, "tiny-cnn.onnx", "1")
	src.set(t, proto.ArmChallenger, "tiny-sigmoid.onnx", "1")
	reg := prometheus.NewPedanticRegistry()
	svc, err := predictor.New(predictor.Config{Workers: 2}, predictor.Deps{JS: env.JS, Models: src, Blobs: blobs, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}()

	const n = 3
	parents := map[string]trace.Parent{}
	publish := func(id, arm, key string, data []byte) {
		if data != nil {
			if err := blobs.Put(t.Context(), key, data); err != nil {
				t.Fatal(err)
			}
		}
		p := trace.New()
		parents[id+"/"+arm] = p
		req := &proto.InferenceRequest{RequestID: id, Arm: arm, Served: true, Experiment: "pneumonia", Image: proto.ImageRef{Key: key}}
		if _, err := bus.PublishWith(t.Context(), env.JS, proto.InferenceRequestSubject(arm), req, bus.TraceHeader(p)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		for _, arm := range proto.Arms {
			publish(fmt.Sprintf("ok-%d", i), arm, fmt.Sprintf("img/%d.jpeg", i), jpegBytes(t, i+1))
		}
	}
	publish("bad", proto.ArmChampion, "img/bad.jpeg", []byte("not an image"))

	bustest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if got := testutil.ToFloat64(svcCounter(reg, "hap_predictor_results_total")); got != 2*n+1 {
			return fmt.Errorf("%v results counted, want %d", got, 2*n+1)
		}
		return nil
	})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	perArm := map[string]uint64{}
	statuses := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetName() {
			case "hap_predictor_inference_latency_seconds":
				perArm[l["arm"]] += m.GetHistogram().GetSampleCount()
				if l["model"] == "" || l["version"] != "1" {
					t.Errorf("latency series labels %v", l)
				}
			case "hap_predictor_results_total":
				statuses[l["arm"]+"/"+l["status"]] += m.GetCounter().GetValue()
			}
		}
	}
	if perArm[proto.ArmChampion] != n || perArm[proto.ArmChallenger] != n {
		t.Errorf("latency samples per arm %v, want %d each", perArm, n)
	}
	if statuses["champion/error"] != 1 || statuses["champion/ok"] != n || statuses["challenger/ok"] != n {
		t.Errorf("results by arm and status %v", statuses)
	}

	s, err := env.JS.Stream(t.Context(), proto.StreamInference)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	results := 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		var r proto.InferenceResult
		if m.Subject != proto.InferenceResultSubject(proto.ArmChampion) && m.Subject != proto.InferenceResultSubject(proto.ArmChallenger) {
			continue
		}
		if err := proto.Decode(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		results++
		want := parents[r.RequestID+"/"+r.Arm]
		got, err := trace.Parse(m.Header.Get(proto.HeaderTraceParent))
		if err != nil || got.TraceID != want.TraceID || got.SpanID == want.SpanID {
			t.Errorf("result %s/%s traceparent %v (%v), want trace id %s and a new span", r.RequestID, r.Arm, got, err, want.TraceID)
		}
	}
	if results != 2*n+1 {
		t.Errorf("%d results in the stream, want %d", results, 2*n+1)
	}
}

// svcCounter sums every series of a counter family into one counter.
func svcCounter(reg *prometheus.Registry, name string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sum"})
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				c.Add(m.GetCounter().GetValue())
			}
		}
	}
	return c
}
