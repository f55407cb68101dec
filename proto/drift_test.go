package proto

import (
	"errors"
	"strings"
	"testing"
)

func TestDriftSubjects(t *testing.T) {
	if got := MetricsDriftSubject("pneumonia"); got != "metrics.pneumonia.drift" {
		t.Errorf("MetricsDriftSubject = %q", got)
	}
	if got := DriftAlertSubject("pneumonia"); got != "alerts.pneumonia.drift" {
		t.Errorf("DriftAlertSubject = %q", got)
	}
	for subj, want := range map[string]string{
		MetricsDriftSubject("pneumonia"): StreamMetrics,
		DriftAlertSubject("pneumonia"):   StreamAlerts,
	} {
		var got []string
		for _, s := range AllStreams {
			filter, err := StreamSubjects(s)
			if err != nil {
				t.Fatal(err)
			}
			if matches(filter, subj) {
				got = append(got, s)
			}
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("subject %s captured by streams %v, want exactly [%s]", subj, got, want)
		}
	}
	if !matches(MetricsDriftAll, MetricsDriftSubject("e")) || matches(MetricsExperimentsAll, MetricsDriftSubject("e")) ||
		matches(MetricsDriftAll, MetricsExperimentSubject("e")) {
		t.Error("drift reports and experiment snapshots are not told apart by their filters")
	}
	if !matches(DriftAlertsAll, DriftAlertSubject("e")) || !matches(AlertsAll, DriftAlertSubject("e")) {
		t.Error("alert filters do not match the drift alert subject")
	}
}

func TestInputStatsCheck(t *testing.T) {
	ok := func() *InputStats {
		h := make([]int, InputStatsBins)
		h[3], h[7] = 2, 2
		return &InputStats{N: 4, Mean: 0.1, Std: 0.5, Min: -1, Max: 1, Lo: -2, Hi: 2, Histogram: h}
	}
	if err := ok().Check(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*InputStats){
		"bins":     func(s *InputStats) { s.Histogram = s.Histogram[:4] },
		"sum":      func(s *InputStats) { s.N = 5 },
		"negative": func(s *InputStats) { s.Histogram[0], s.Histogram[3] = -1, 3 },
		"range":    func(s *InputStats) { s.Lo = 2 },
		"std":      func(s *InputStats) { s.Std = -1 },
	} {
		s := ok()
		mutate(s)
		if err := s.Check(); err == nil {
			t.Errorf("%s: accepted %+v", name, s)
		}
	}
	// A result with stats round-trips; Check of the result does not judge them.
	res := &InferenceResult{RequestID: "r", Arm: ArmChampion, Status: StatusOK, Label: LabelNormal, InputStats: ok()}
	b, err := Encode(res)
	if err != nil || !strings.Contains(string(b), `"input_stats":{"n":4`) {
		t.Fatalf("encode: %s, %v", b, err)
	}
	var back InferenceResult
	if err := Decode(b, &back); err != nil || back.InputStats == nil || back.InputStats.Histogram[7] != 2 {
		t.Fatalf("decode: %+v, %v", back.InputStats, err)
	}
	b, _ = Encode(&InferenceResult{RequestID: "r", Arm: ArmChampion, Status: StatusOK, Label: LabelNormal})
	if strings.Contains(string(b), "input_stats") {
		t.Errorf("absent stats encoded: %s", b)
	}
}

func TestDriftEventsCheck(t *testing.T) {
	rep := &DriftReport{ReportID: "x", Experiment: "pneumonia", Arm: ArmChampion, ModelName: "m", Level: DriftLevelOK}
	alert := &DriftAlert{AlertID: "a", Experiment: "pneumonia", Arm: ArmChallenger, Signal: SignalInputPSI, Status: AlertFiring}
	for _, e := range []Event{rep, alert} {
		b, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"schema_version":1`) {
			t.Errorf("%s: %s", e.Schema(), b)
		}
	}
	if rep.MsgID() != "drift:x" || alert.MsgID() != "drift-alert:a" {
		t.Errorf("msg ids %q %q", rep.MsgID(), alert.MsgID())
	}
	for _, c := range []struct {
		e    Event
		data string
	}{
		{&DriftReport{}, `{"report_id":"x","experiment":"a.b","arm":"champion","served_model_name":"m","level":"ok"}`},
		{&DriftReport{}, `{"report_id":"x","experiment":"e","arm":"third","served_model_name":"m","level":"ok"}`},
		{&DriftAlert{}, `{"alert_id":"a","experiment":"e","arm":"champion","signal":"input_psi","status":"maybe"}`},
		{&DriftAlert{}, `{"experiment":"e","arm":"champion","signal":"input_psi","status":"firing"}`},
	} {
		if err := Decode([]byte(c.data), c.e); !errors.Is(err, ErrSchema) {
			t.Errorf("%s %s: %v, want ErrSchema", c.e.Schema(), c.data, err)
		}
	}
}

// FuzzDecodeDrift: the drift event decoders never panic, and what they
// accept re-encodes.
func FuzzDecodeDrift(f *testing.F) {
	f.Add([]byte(`{"report_id":"x","experiment":"e","arm":"champion","served_model_name":"m","level":"ok","signals":[{"name":"input_psi","p_value":0.1}]}`))
	f.Add([]byte(`{"alert_id":"a","experiment":"e","arm":"champion","signal":"input_psi","status":"firing"}`))
	f.Add([]byte(`{"request_id":"r","arm":"champion","status":"ok","label":"NORMAL","input_stats":{"n":1,"histogram":[1]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, e := range []Event{&DriftReport{}, &DriftAlert{}, &InferenceResult{}} {
			if err := Decode(data, e); err != nil {
				if !errors.Is(err, ErrSchema) {
					t.Fatalf("%s: error %v does not wrap ErrSchema", e.Schema(), err)
				}
				continue
			}
			if _, err := Encode(e); err != nil {
				t.Fatalf("%s: decoded event does not re-encode: %v", e.Schema(), err)
			}
			if r, ok := e.(*InferenceResult); ok && r.InputStats != nil {
				_ = r.InputStats.Check() // must not panic
			}
		}
	})
}
