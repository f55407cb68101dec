package drift_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/driftstat"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/drift"
)

// staticRefs serves one reference for model "m" version "1"; other versions
// have none.
type staticRefs struct{ ref *driftstat.Reference }

func (s staticRefs) Reference(_ context.Context, model, version string) (*driftstat.Reference, error) {
	if model == "m" && version == "1" {
		return s.ref, nil
	}
	return nil, nil
}

// stats simulates the input statistics of one image with the committed
// models' preprocessing (values in [-2, 2]); shift brightens (> 0) or
// darkens (< 0) it.
func stats(r *rand.Rand, shift float64) *proto.InputStats {
	lo, hi := driftstat.Range(1.0/255, 0.5, 0.25)
	exposure := r.NormFloat64() * 0.3
	t := make([]float32, 256)
	for i := range t {
		t[i] = float32(min(max(exposure+shift+r.NormFloat64()*0.6, lo), hi))
	}
	return driftstat.Summarize(t, lo, hi)
}

func reference(t *testing.T, r *rand.Rand) *driftstat.Reference {
	t.Helper()
	lo, hi := driftstat.Range(1.0/255, 0.5, 0.25)
	b := driftstat.NewBuilder(lo, hi)
	for range 600 {
		if err := b.Add(stats(r, 0), r.Float64()); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := b.Reference(0.5)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

type harness struct {
	env     *bustest.Env
	r       *rand.Rand
	n       int
	mu      sync.Mutex
	alerts  []proto.DriftAlert
	reports []proto.DriftReport
	reg     *prometheus.Registry
	stop    func()
}

func start(t *testing.T, cfg drift.Config) *harness {
	t.Helper()
	h := &harness{env: bustest.Start(t), r: rand.New(rand.NewPCG(1, 1)), reg: prometheus.NewRegistry()}
	for subj, fn := range map[string]func(*nats.Msg){
		proto.DriftAlertsAll: func(m *nats.Msg) {
			var a proto.DriftAlert
			if err := proto.Decode(m.Data, &a); err != nil {
				t.Errorf("alert: %v", err)
			}
			h.mu.Lock()
			h.alerts = append(h.alerts, a)
			h.mu.Unlock()
		},
		proto.MetricsDriftAll: func(m *nats.Msg) {
			var rep proto.DriftReport
			if err := proto.Decode(m.Data, &rep); err != nil {
				t.Errorf("report: %v", err)
			}
			h.mu.Lock()
			h.reports = append(h.reports, rep)
			h.mu.Unlock()
		},
	} {
		sub, err := h.env.Conn.Subscribe(subj, fn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Unsubscribe() })
	}
	h.run(t, cfg)
	return h
}

// run starts a drift monitor on the harness's server (stopping the one
// running, if any); it stops at the end of the test.
func (h *harness) run(t *testing.T, cfg drift.Config) {
	t.Helper()
	if h.stop != nil {
		h.stop()
		h.reg = prometheus.NewRegistry() // a new process, a new registry
	}
	svc, err := drift.New(cfg, drift.Deps{JS: h.env.JS, References: staticRefs{reference(t, h.r)}, Metrics: h.reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-errc; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(h.stop)
}

// send publishes n results of model m version on the champion arm.
func (h *harness) send(t *testing.T, n int, version string, shift float64) {
	t.Helper()
	for range n {
		h.n++
		p := h.r.Float64()
		label := proto.LabelNormal
		if p >= 0.5 {
			label = proto.LabelPneumonia
		}
		res := &proto.InferenceResult{RequestID: fmt.Sprintf("r%d", h.n), Experiment: "pneumonia", Arm: proto.ArmChampion,
			ModelName: "m", ModelVersion: version, Status: proto.StatusOK, StatusCode: 200, Label: label, Probability: p,
			Threshold: 0.5, InputStats: stats(h.r, shift)}
		if _, err := bus.Publish(t.Context(), h.env.JS, proto.InferenceResultSubject(proto.ArmChampion), res); err != nil {
			t.Fatal(err)
		}
	}
}

// waitReports waits until the report of version covers results results.
func (h *harness) waitReport(t *testing.T, version string, results int) proto.DriftReport {
	t.Helper()
	var last proto.DriftReport
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, r := range h.reports {
			if r.ModelVersion == version && r.Results >= results {
				last = r
				return nil
			}
		}
		return fmt.Errorf("no report of version %s on %d results yet", version, results)
	})
	return last
}

func (h *harness) alertsOf(signal string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, a := range h.alerts {
		if a.Signal == signal {
			out = append(out, a.Status)
		}
	}
	return out
}

func TestDriftAlertFiresAndResolves(t *testing.T) {
	cfg := drift.DefaultConfig()
	cfg.Rule.Window, cfg.Rule.MinWindow = 80, 40
	cfg.EvalEvery, cfg.EvalInterval = 10, time.Hour
	h := start(t, cfg)

	// Shifted from the start, but fewer results than the minimum window.
	h.send(t, 30, "1", 0.8)
	if rep := h.waitReport(t, "1", 30); rep.Level != proto.DriftLevelInsufficient {
		t.Fatalf("below the minimum window: level %s", rep.Level)
	}
	if a := h.alertsOf(proto.SignalInputPSI); len(a) != 0 {
		t.Fatalf("alert below the minimum window: %v", a)
	}
	// Enough brightened images: the input signals fire, once.
	h.send(t, 70, "1", 0.8)
	rep := h.waitReport(t, "1", 100)
	if rep.Level != proto.DriftLevelAlert || rep.ReferenceImages != 600 || rep.Window != 80 {
		t.Fatalf("brightened: %+v", rep)
	}
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if a := h.alertsOf(proto.SignalInputPSI); len(a) != 1 || a[0] != proto.AlertFiring {
			return fmt.Errorf("psi alerts %v, want [firing]", a)
		}
		return nil
	})
	// The Prometheus gauges follow: the alert fires, the PSI is exposed.
	firing := func() float64 {
		return testutil.ToFloat64(mustGauge(t, h.reg, "hap_drift_alert_firing", proto.SignalInputPSI))
	}
	if firing() != 1 {
		t.Errorf("hap_drift_alert_firing{signal=input_psi} = %v, want 1", firing())
	}
	if v := testutil.ToFloat64(mustGauge(t, h.reg, "hap_drift_signal_value", proto.SignalInputPSI)); v <= cfg.Rule.PSIAlert {
		t.Errorf("hap_drift_signal_value{signal=input_psi} = %v, want above %v", v, cfg.Rule.PSIAlert)
	}
	// Back to normal images: resolved once the window has forgotten the shift.
	h.send(t, 100, "1", 0)
	h.waitReport(t, "1", 200)
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if a := h.alertsOf(proto.SignalInputPSI); len(a) != 2 || a[1] != proto.AlertResolved {
			return fmt.Errorf("psi alerts %v, want [firing resolved]", a)
		}
		return nil
	})
	if firing() != 0 {
		t.Errorf("hap_drift_alert_firing{signal=input_psi} = %v after resolve, want 0", firing())
	}
	if a := h.alertsOf(proto.SignalPositiveRate); len(a) != 0 {
		t.Errorf("positive rate alerts %v: the predictions did not change", a)
	}
	// A version without a reference reports so and never alerts.
	h.send(t, 50, "2", 0.8)
	if rep := h.waitReport(t, "2", 50); rep.Level != proto.DriftLevelNoReference {
		t.Errorf("version without reference: level %s", rep.Level)
	}
}

func TestDriftUnshiftedNeverAlerts(t *testing.T) {
	cfg := drift.DefaultConfig()
	cfg.Rule.Window, cfg.Rule.MinWindow = 100, 40
	cfg.EvalEvery, cfg.EvalInterval = 20, 50*time.Millisecond
	h := start(t, cfg)
	h.send(t, 205, "1", 0)
	rep := h.waitReport(t, "1", 205) // the last 5 by the interval
	if rep.Level != proto.DriftLevelOK {
		t.Errorf("unshifted: level %s, %+v", rep.Level, rep.Signals)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.alerts) != 0 {
		t.Errorf("alerts on unshifted inputs: %+v", h.alerts)
	}
}

func TestReferenceOfCommittedModels(t *testing.T) {
	for _, f := range []string{"../../models/pneumonia-simplecnn.onnx", "../../models/pneumonia-resnet.onnx"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := drift.ReferenceOf(data)
		if err != nil || ref == nil {
			t.Errorf("%s: reference %v, %v", f, ref, err)
		}
	}
	data, err := os.ReadFile("../../model/testdata/tiny-sigmoid.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if ref, err := drift.ReferenceOf(data); ref != nil || err != nil {
		t.Errorf("model without a reference: %v, %v", ref, err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := drift.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := drift.DefaultConfig()
	c.EvalEvery = 0
	if err := c.Validate(); err == nil {
		t.Error("eval_every 0 accepted")
	}
}

// mustGauge returns the gauge of the champion arm's model version 1 for a
// signal from the registry's metric family name.
func mustGauge(t *testing.T, reg *prometheus.Registry, name, signal string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["signal"] == signal && labels["version"] == "1" {
				g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
				g.Set(m.GetGauge().GetValue())
				return g
			}
		}
	}
	t.Fatalf("%s{signal=%q}: not exposed", name, signal)
	return nil
}

// TestDriftCountsARedeliveryOnce: a result delivered again (published again
// without its de-duplication id, as a redelivery after a slow ack looks to
// the monitor) is not counted twice in the window.
func TestDriftCountsARedeliveryOnce(t *testing.T) {
	cfg := drift.DefaultConfig()
	cfg.EvalEvery, cfg.EvalInterval = 10, time.Hour
	h := start(t, cfg)
	h.send(t, 50, "3", 0)
	h.waitReport(t, "3", 50)
	for i := 1; i <= 50; i++ {
		res := &proto.InferenceResult{RequestID: fmt.Sprintf("r%d", i), Experiment: "pneumonia", Arm: proto.ArmChampion,
			ModelName: "m", ModelVersion: "3", Status: proto.StatusOK, StatusCode: 200, Label: proto.LabelNormal, Threshold: 0.5}
		m, err := bus.NewMsg(proto.InferenceResultSubject(proto.ArmChampion), res)
		if err != nil {
			t.Fatal(err)
		}
		m.Header.Del(proto.HeaderMsgID)
		if _, err := h.env.JS.PublishMsg(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	h.send(t, 10, "3", 0)
	// Once the consumer has acknowledged all 110 messages, the latest report
	// counts 60 results (110 if the redeliveries counted).
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		info, err := h.env.JS.Consumer(t.Context(), proto.StreamInference, proto.ConsumerDriftResults)
		if err != nil {
			return err
		}
		if ci, err := info.Info(t.Context()); err != nil || ci.NumPending+uint64(ci.NumAckPending) > 0 || ci.AckFloor.Stream < 110 {
			return fmt.Errorf("consumer not drained: %v %v", ci, err)
		}
		return nil
	})
	rep := h.waitReport(t, "3", 60)
	h.mu.Lock()
	for _, r := range h.reports {
		if r.ModelVersion == "3" && r.Results > rep.Results {
			rep = r
		}
	}
	h.mu.Unlock()
	if rep.Window != 60 || rep.Results != 60 {
		t.Fatalf("after 50 redelivered and 10 new results: window %d, results %d; want 60, 60", rep.Window, rep.Results)
	}
}

// TestDriftAlertSurvivesRestart: a monitor restarted while an alert fires
// does not announce it again while it stays true, and announces "resolved"
// when it clears (it reads the firing alerts back from the ALERTS stream).
func TestDriftAlertSurvivesRestart(t *testing.T) {
	cfg := drift.DefaultConfig()
	cfg.Rule.Window, cfg.Rule.MinWindow = 80, 40
	cfg.EvalEvery, cfg.EvalInterval = 10, time.Hour
	h := start(t, cfg)
	h.send(t, 100, "1", 0.8)
	h.waitReport(t, "1", 100)
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if a := h.alertsOf(proto.SignalInputPSI); len(a) != 1 || a[0] != proto.AlertFiring {
			return fmt.Errorf("psi alerts %v, want [firing]", a)
		}
		return nil
	})
	h.mu.Lock()
	before := len(h.reports)
	h.mu.Unlock()
	h.run(t, cfg) // restart: the windows start empty
	h.send(t, 100, "1", 0.8)
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, r := range h.reports[before:] {
			if r.Results >= 100 && r.Level == proto.DriftLevelAlert {
				return nil
			}
		}
		return fmt.Errorf("no alert-level report on 100 results after the restart yet")
	})
	time.Sleep(100 * time.Millisecond) // an alert would follow its report at once
	if a := h.alertsOf(proto.SignalInputPSI); len(a) != 1 {
		t.Fatalf("after the restart, still shifted: psi alerts %v, want the one firing alert only", a)
	}
	h.send(t, 100, "1", 0)
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if a := h.alertsOf(proto.SignalInputPSI); len(a) != 2 || a[1] != proto.AlertResolved {
			return fmt.Errorf("psi alerts %v, want [firing resolved]", a)
		}
		return nil
	})
}
