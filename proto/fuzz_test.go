package proto

import (
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to every event decoder: it must never
// panic, and whatever it accepts must pass Check and re-encode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"request_id":"r","arm":"champion","status":"ok","label":"NORMAL"}`))
	f.Add([]byte(`{"request_id":"r","image":{"key":"k","sha256":"s"}}`))
	f.Add([]byte(`{"feedback_id":"f","request_id":"r","ground_truth":"PNEUMONIA"}`))
	f.Add([]byte(`{"schema_version":99}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{0xff, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, e := range []Event{&InferenceResult{}, &InferenceRequest{}, &ImageIngested{}, &ImageSubmitted{},
			&ImageRejected{}, &FeedbackRecorded{}} {
			err := Decode(data, e)
			if err != nil {
				if !errors.Is(err, ErrSchema) {
					t.Fatalf("%s: error %v does not wrap ErrSchema", e.Schema(), err)
				}
				continue
			}
			if _, err := Encode(e); err != nil {
				t.Fatalf("%s: decoded event does not re-encode: %v", e.Schema(), err)
			}
		}
	})
}

// FuzzFeedbackNormalize checks that validation never panics and that an
// accepted submission always yields a valid label.
func FuzzFeedbackNormalize(f *testing.F) {
	f.Add("r1", "true-positive", "", 0.9)
	f.Add("", "maybe", "COVID", -1.0)
	f.Add(" r ", "", "pneumonia", 2.0)
	f.Fuzz(func(t *testing.T, id, ft, gt string, conf float64) {
		s := FeedbackSubmission{RequestID: id, FeedbackType: ft, GroundTruth: gt, Confidence: &conf}
		label, err := s.Normalize()
		if err == nil && !ValidLabel(label) {
			t.Fatalf("accepted %+v with label %q", s, label)
		}
	})
}
