package proto

import (
	"errors"
	"strings"
	"testing"
)

func TestSubjectsMatchTheirStreams(t *testing.T) {
	cases := map[string]string{
		SubjectImageSubmit:                            StreamXRay,
		SubjectImageIngested:                          StreamXRay,
		SubjectImageRejected:                          StreamXRay,
		InferenceRequestSubject(ArmChampion):          StreamInference,
		InferenceResultSubject(ArmChallenger):         StreamInference,
		SubjectFeedbackSubmit:                         StreamFeedback,
		SubjectFeedbackRecorded:                       StreamFeedback,
		MetricsExperimentSubject("pneumonia"):         StreamMetrics,
		MetricsModelSubject("pneumonia", ArmChampion): StreamMetrics,
		DecisionSubject("pneumonia"):                  StreamDecisions,
		DeadLetterSubject(ConsumerRouter):             StreamDeadLetter,
	}
	for subj, want := range cases {
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
	if !matches(InferenceResultsAll, InferenceResultSubject(ArmChampion)) || matches(InferenceResultsAll, InferenceRequestSubject(ArmChampion)) {
		t.Errorf("InferenceResultsAll filter is wrong")
	}
	if !matches(MetricsAll, MetricsModelSubject("e", ArmChallenger)) {
		t.Errorf("MetricsAll does not match model metrics")
	}
}

// matches implements NATS subject matching with * and > wildcards.
func matches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

func TestBuildersRejectBadTokens(t *testing.T) {
	for _, bad := range []string{"", "a.b", "a b", "a>", "*"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("InferenceRequestSubject(%q) did not panic", bad)
				}
			}()
			InferenceRequestSubject(bad)
		}()
		if ValidToken(bad) == nil {
			t.Errorf("ValidToken(%q) = nil, want error", bad)
		}
	}
	if got := RegistryVersionKey("pneumonia-simplecnn", 3); got != "version.pneumonia-simplecnn.3" {
		t.Errorf("RegistryVersionKey = %q", got)
	}
	if got := ModelObjectName("m", 2); got != "m/2.onnx" {
		t.Errorf("ModelObjectName = %q", got)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	in := &InferenceResult{RequestID: "r1", Arm: ArmChallenger, Status: StatusOK, Label: LabelPneumonia, Probability: 0.93,
		ConfiguredSplit: Split{70, 30}, ModelName: "m", ModelVersion: "2"}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"schema_version":1`) || !strings.Contains(string(b), `"served_model_name":"m"`) {
		t.Errorf("encoded JSON lacks schema_version or served_model_name: %s", b)
	}
	var out InferenceResult
	if err := Decode(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.RequestID != "r1" || out.ConfiguredSplit != (Split{70, 30}) || out.Probability != 0.93 {
		t.Errorf("round trip lost data: %+v", out)
	}
	for name, data := range map[string]string{
		"malformed":    `{"request_id":`,
		"newer schema": `{"schema_version":2,"request_id":"r","arm":"champion","status":"ok","label":"NORMAL"}`,
		"bad arm":      `{"request_id":"r","arm":"third","status":"ok","label":"NORMAL"}`,
		"missing id":   `{"arm":"champion","status":"ok","label":"NORMAL"}`,
		"bad label":    `{"request_id":"r","arm":"champion","status":"ok","label":"maybe"}`,
	} {
		var r InferenceResult
		if err := Decode([]byte(data), &r); !errors.Is(err, ErrSchema) {
			t.Errorf("%s: Decode error = %v, want ErrSchema", name, err)
		}
	}
}

func TestFeedbackNormalize(t *testing.T) {
	conf := func(v float64) *float64 { return &v }
	cases := []struct {
		in      FeedbackSubmission
		want    string
		errWant string
	}{
		{FeedbackSubmission{RequestID: "r", FeedbackType: "true-positive"}, LabelPneumonia, ""},
		{FeedbackSubmission{RequestID: "r", FeedbackType: "False-Negative"}, LabelPneumonia, ""},
		{FeedbackSubmission{RequestID: "r", FeedbackType: "false-positive"}, LabelNormal, ""},
		{FeedbackSubmission{RequestID: "r", FeedbackType: "true-negative"}, LabelNormal, ""},
		{FeedbackSubmission{RequestID: "r", GroundTruth: "pneumonia"}, LabelPneumonia, ""},
		{FeedbackSubmission{RequestID: "r", FeedbackType: "maybe"}, "", `feedback_type "maybe": must be one of true-positive, false-positive, true-negative, false-negative`},
		{FeedbackSubmission{FeedbackType: "true-positive"}, "", "request_id: required"},
		{FeedbackSubmission{RequestID: "r"}, "", "feedback_type: required"},
		{FeedbackSubmission{RequestID: "r", GroundTruth: "COVID"}, "", `ground_truth "COVID"`},
		{FeedbackSubmission{RequestID: "r", FeedbackType: "true-positive", GroundTruth: "NORMAL"}, "", "contradicts"},
		{FeedbackSubmission{RequestID: "r", FeedbackType: "true-positive", Confidence: conf(1.5)}, "", "confidence 1.5"},
	}
	for _, c := range cases {
		got, err := c.in.Normalize()
		if c.errWant != "" {
			if err == nil || !strings.Contains(err.Error(), c.errWant) {
				t.Errorf("%+v: error %v, want containing %q", c.in, err, c.errWant)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%+v: got %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestConfusionMetrics(t *testing.T) {
	var c Confusion
	for range 40 {
		c.Add(LabelPneumonia, LabelPneumonia, 1)
	}
	for range 10 {
		c.Add(LabelNormal, LabelPneumonia, 1)
	}
	for range 45 {
		c.Add(LabelNormal, LabelNormal, 1)
	}
	for range 5 {
		c.Add(LabelPneumonia, LabelNormal, 1)
	}
	if c.N() != 100 || c.Accuracy() != 0.85 || c.Sensitivity() != 0.8 || c.Specificity() != 0.9 {
		t.Errorf("confusion %+v: acc %v sens %v spec %v", c, c.Accuracy(), c.Sensitivity(), c.Specificity())
	}
	var empty Confusion
	if empty.Accuracy() != 0 || empty.PPV() != 0 {
		t.Errorf("empty confusion gives non-zero ratios")
	}
}

func TestEpochRoundTripAndDefault(t *testing.T) {
	req := &InferenceRequest{RequestID: "r1", Arm: ArmChampion, Image: ImageRef{Key: "k"}, Epoch: 4}
	res := &InferenceResult{RequestID: "r1", Arm: ArmChampion, Status: StatusOK, Label: LabelNormal, Epoch: 4}
	for _, e := range []Event{req, res} {
		b, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"epoch":4`) {
			t.Errorf("%s: encoded without its epoch: %s", e.Schema(), b)
		}
	}
	var r InferenceResult
	if err := Decode([]byte(`{"request_id":"r","arm":"champion","status":"ok","label":"NORMAL"}`), &r); err != nil || r.Epoch != 0 {
		t.Errorf("result without epoch: epoch %d, %v; want 0", r.Epoch, err)
	}
	var q InferenceRequest
	if err := Decode([]byte(`{"request_id":"r","arm":"champion","image":{"key":"k"},"epoch":3}`), &q); err != nil || q.Epoch != 3 {
		t.Errorf("request with epoch 3: epoch %d, %v", q.Epoch, err)
	}
	for _, c := range []struct {
		e    Event
		data string
	}{
		{&InferenceRequest{}, `{"request_id":"r","arm":"champion","image":{"key":"k"},"epoch":-1}`},
		{&InferenceResult{}, `{"request_id":"r","arm":"champion","status":"ok","label":"NORMAL","epoch":-1}`},
	} {
		if err := Decode([]byte(c.data), c.e); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "epoch -1") {
			t.Errorf("%s with a negative epoch: %v, want ErrSchema naming the epoch", c.e.Schema(), err)
		}
	}
	exp := Experiment{Name: "pneumonia", Mode: ModeSplit, Split: Split{50, 50}, Epoch: -2}
	if err := exp.Check(); err == nil || !strings.Contains(err.Error(), "epoch -2") {
		t.Errorf("experiment with a negative epoch: %v", err)
	}
}

func TestPairedCounts(t *testing.T) {
	var p PairedCounts
	p.Add(true, true, 1)
	p.Add(true, false, 1)
	p.Add(true, false, 1)
	p.Add(false, true, 1)
	p.Add(false, false, 1)
	p.Add(true, false, -1)
	if want := (PairedCounts{BothCorrect: 1, OnlyChampion: 1, OnlyChallenger: 1, BothWrong: 1}); p != want || p.Total() != 4 {
		t.Errorf("paired %+v (total %d), want %+v", p, p.Total(), want)
	}
}
