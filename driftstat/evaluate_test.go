package driftstat

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/healthcare-ai/platform/proto"
)

// image simulates the preprocessed tensor of one X-ray of the committed
// models' preprocessing (values in [-2, 2]): an exposure drawn per image,
// pixel values around it. shift moves every value, like a brighter
// (positive) or darker (negative) acquisition.
func image(r *rand.Rand, shift float64) *proto.InputStats {
	lo, hi := Range(1.0/255, 0.5, 0.25)
	exposure := r.NormFloat64() * 0.3
	t := make([]float32, 256)
	for i := range t {
		v := exposure + shift + r.NormFloat64()*0.6
		t[i] = float32(min(max(v, lo), hi))
	}
	return Summarize(t, lo, hi)
}

func testReference(t *testing.T, r *rand.Rand, n int) *Reference {
	t.Helper()
	lo, hi := Range(1.0/255, 0.5, 0.25)
	b := NewBuilder(lo, hi)
	for range n {
		if err := b.Add(image(r, 0), r.Float64()); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := b.Reference(0.5)
	if err != nil {
		t.Fatal(err)
	}
	ref.Model, ref.ModelVersion = "m", "1"
	if err := ref.Validate(); err != nil {
		t.Fatal(err)
	}
	return ref
}

func signal(e Evaluation, name string) proto.DriftSignal {
	for _, s := range e.Signals {
		if s.Name == name {
			return s
		}
	}
	return proto.DriftSignal{}
}

func TestEvaluateInputShift(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ref := testReference(t, r, 1000)
	if rate := ref.PositiveRate; rate < 0.45 || rate > 0.55 {
		t.Fatalf("reference positive rate %v", rate)
	}
	cfg := DefaultConfig()
	cfg.Window, cfg.MinWindow = 200, 50
	w := NewWindow(cfg.Window)
	feed := func(n int, shift float64) Evaluation {
		for range n {
			p := r.Float64()
			w.Add(p >= 0.5, 0.5, image(r, shift))
		}
		return Evaluate(cfg, ref, w)
	}

	// Shifted from the start, but below the minimum window: no judgement.
	if ev := feed(cfg.MinWindow-1, 0.8); ev.Level != proto.DriftLevelInsufficient || len(ev.Alerting()) != 0 {
		t.Fatalf("below the minimum window: level %s, alerting %v", ev.Level, ev.Alerting())
	}
	// A full window of brightened images: PSI and KS alert.
	ev := feed(cfg.Window, 0.8)
	psi, ks := signal(ev, proto.SignalInputPSI), signal(ev, proto.SignalInputMeanKS)
	if ev.Level != proto.DriftLevelAlert || psi.Level != proto.DriftLevelAlert || ks.Level != proto.DriftLevelAlert {
		t.Fatalf("brightened: level %s, psi %+v, ks %+v", ev.Level, psi, ks)
	}
	if rate := signal(ev, proto.SignalPositiveRate); rate.Level != proto.DriftLevelOK {
		t.Errorf("brightened, same predictions: positive rate %+v", rate)
	}
	t.Logf("brightened: psi %.3f, ks D %.3f p %.2g", psi.Value, ks.Value, *ks.PValue)
	// Darkened too.
	ev = feed(cfg.Window, -0.5)
	if ev.Alerting()[proto.SignalInputPSI].Level != proto.DriftLevelAlert {
		t.Fatalf("darkened: %+v", ev.Signals)
	}
	// Back to the training distribution: the window forgets the shift.
	ev = feed(cfg.Window, 0)
	if ev.Level != proto.DriftLevelOK {
		t.Fatalf("unshifted: level %s, %+v", ev.Level, ev.Signals)
	}
	t.Logf("unshifted: psi %.4f, ks D %.3f", signal(ev, proto.SignalInputPSI).Value, signal(ev, proto.SignalInputMeanKS).Value)
}

func TestEvaluatePositiveRate(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ref := testReference(t, r, 1000)
	cfg := DefaultConfig()
	cfg.Window, cfg.MinWindow = 300, 100
	w := NewWindow(cfg.Window)
	for range cfg.Window {
		w.Add(r.Float64() < 0.5, 0.5, nil) // no input statistics: the input signals stay insufficient
	}
	ev := Evaluate(cfg, ref, w)
	if s := signal(ev, proto.SignalPositiveRate); s.Level != proto.DriftLevelOK || ev.Level != proto.DriftLevelOK {
		t.Fatalf("same rate: %+v (level %s)", s, ev.Level)
	}
	if s := signal(ev, proto.SignalInputPSI); s.Level != proto.DriftLevelInsufficient {
		t.Errorf("psi without input statistics: %+v", s)
	}
	for range cfg.Window {
		w.Add(r.Float64() < 0.75, 0.5, nil)
	}
	ev = Evaluate(cfg, ref, w)
	s := signal(ev, proto.SignalPositiveRate)
	if s.Level != proto.DriftLevelAlert || s.Value < 0.65 || *s.PValue > 1e-6 {
		t.Fatalf("rate 0.75 against 0.5: %+v", s)
	}
	// The bound: z(0.9995) * sqrt(p0 (1-p0) / n), at least MinRateDifference.
	if s.Alert < 0.09 || s.Alert > 0.1 {
		t.Errorf("alert bound %v, want 3.29*sqrt(0.25/300) = 0.095", s.Alert)
	}
	// A re-thresholded model reads the reference at its own threshold.
	if got, want := ref.PositiveRateAt(0.9), ref.PositiveRateAt(0.5); !(got < want) || got > 0.15 {
		t.Errorf("positive rate at 0.9: %v (at 0.5: %v)", got, want)
	}
}

func TestEvaluateNoReference(t *testing.T) {
	w := NewWindow(10)
	w.Add(true, 0.5, nil)
	if ev := Evaluate(DefaultConfig(), nil, w); ev.Level != proto.DriftLevelNoReference || len(ev.Signals) != 0 {
		t.Errorf("no reference: %+v", ev)
	}
}

func TestWindowSlides(t *testing.T) {
	w := NewWindow(3)
	st := func(mean float64, bin int) *proto.InputStats {
		s := &proto.InputStats{N: 2, Mean: mean, Lo: -2, Hi: 2, Histogram: make([]int, proto.InputStatsBins)}
		s.Histogram[bin] = 2
		return s
	}
	w.Add(true, 0.5, st(1, 0))
	w.Add(false, 0.5, nil)
	w.Add(true, 0.5, st(2, 1))
	w.Add(false, 0.4, st(3, 2)) // drops the first
	if w.Len() != 3 || w.Inputs() != 2 || w.Positives() != 1 || w.Threshold() != 0.4 {
		t.Fatalf("len %d inputs %d positives %d threshold %v", w.Len(), w.Inputs(), w.Positives(), w.Threshold())
	}
	if m := w.Means(); len(m) != 2 || m[0] != 2 || m[1] != 3 {
		t.Errorf("means %v, want [2 3]", m)
	}
	if p := w.Pooled(); p[0] != 0 || p[1] != 2 || p[2] != 2 {
		t.Errorf("pooled %v", p)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.MinWindow, c.PSIWarn, c.KSAlertP = c.Window+1, 0.3, 0.5
	err := c.Validate()
	for _, want := range []string{"min_window", "psi warn", "ks p"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
}

func TestReferenceRoundTrip(t *testing.T) {
	ref := testReference(t, rand.New(rand.NewPCG(5, 6)), 50)
	data, err := jsonMarshal(ref)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeReference(data)
	if err != nil || back.Images != 50 || back.PositiveRate != ref.PositiveRate {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	for _, bad := range []string{`{}`, `{"schema_version":1,"images":1,"means":[0],"probabilities":[2]}`, `[`, `{"schema_version":1} {}`} {
		if _, err := DecodeReference([]byte(bad)); err == nil {
			t.Errorf("DecodeReference(%s): no error", bad)
		}
	}
}
