package feedback_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/feedback"
	"github.com/healthcare-ai/platform/services/feedback/client"
)

var fixedNow = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func newService(t *testing.T, env *bustest.Env, mutate ...func(*feedback.Config)) *feedback.Service {
	t.Helper()
	cfg := feedback.DefaultConfig()
	cfg.HTTPAddr = ""
	cfg.Now = func() time.Time { return fixedNow }
	for _, m := range mutate {
		m(&cfg)
	}
	svc, err := feedback.New(cfg, feedback.Deps{JS: env.JS})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// startRun runs svc until the test ends and checks that Run returns nil.
func startRun(t *testing.T, svc *feedback.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
}

func post(t *testing.T, url, contentType, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+client.Path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// subjectCount is the number of messages the FEEDBACK stream holds on subject.
func subjectCount(t *testing.T, js jetstream.JetStream, stream, subject string) uint64 {
	t.Helper()
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

func lastMsg(t *testing.T, js jetstream.JetStream, stream, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(t.Context(), subject)
	if err != nil {
		t.Fatalf("last message on %s: %v", subject, err)
	}
	return m
}

func TestHTTPAccepts(t *testing.T) {
	env := bustest.Start(t)
	srv := httptest.NewServer(newService(t, env).Handler())
	defer srv.Close()
	tests := []struct {
		name, body, wantGT, wantType, wantSource string
		wantConf                                 *float64
	}{
		{"true-positive", `{"request_id":"r1","feedback_type":"true-positive","radiologist_id":"DR001"}`, proto.LabelPneumonia, "true-positive", "api", nil},
		{"false-positive", `{"request_id":"r2","feedback_type":"false-positive"}`, proto.LabelNormal, "false-positive", "api", nil},
		{"true-negative upper case", `{"request_id":"r3","feedback_type":" TRUE-NEGATIVE "}`, proto.LabelNormal, "true-negative", "api", nil},
		{"false-negative with details", `{"request_id":"r4","feedback_type":"false-negative","confidence":0.9,"notes":"subtle RLL opacity","source":"review-ui"}`, proto.LabelPneumonia, "false-negative", "review-ui", new(0.9)},
		{"ground truth only", `{"request_id":"r5","ground_truth":"pneumonia"}`, proto.LabelPneumonia, "", "api", nil},
		{"type and agreeing ground truth", `{"request_id":"r6","feedback_type":"true-negative","ground_truth":"NORMAL"}`, proto.LabelNormal, "true-negative", "api", nil},
		{"explicit feedback_id", `{"request_id":"r7","feedback_type":"true-positive","feedback_id":"ui-42"}`, proto.LabelPneumonia, "true-positive", "api", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := post(t, srv.URL, "application/json", tc.body)
			if status != http.StatusAccepted {
				t.Fatalf("status %d, body %s", status, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			var rec client.Receipt
			if err := json.Unmarshal(body, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.GroundTruth != tc.wantGT || rec.FeedbackID == "" || rec.Duplicate {
				t.Fatalf("receipt %+v, want ground truth %s", rec, tc.wantGT)
			}
			raw := lastMsg(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRecorded)
			if got, want := raw.Header.Get(proto.HeaderMsgID), "feedback:"+rec.FeedbackID; got != want {
				t.Errorf("Nats-Msg-Id %q, want %q", got, want)
			}
			var ev proto.FeedbackRecorded
			if err := proto.Decode(raw.Data, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.FeedbackID != rec.FeedbackID || ev.RequestID != rec.RequestID || ev.GroundTruth != tc.wantGT ||
				ev.FeedbackType != tc.wantType || ev.Source != tc.wantSource || !ev.RecordedAt.Equal(fixedNow) {
				t.Errorf("recorded event %+v", ev)
			}
			if (ev.Confidence == nil) != (tc.wantConf == nil) || (ev.Confidence != nil && *ev.Confidence != *tc.wantConf) {
				t.Errorf("confidence %v, want %v", ev.Confidence, tc.wantConf)
			}
		})
	}
	if rec := lastMsg(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRecorded); !bytes.Contains(rec.Data, []byte(`"feedback_id":"ui-42"`)) {
		t.Errorf("explicit feedback_id not used: %s", rec.Data)
	}
}

func TestHTTPRejectsNamingTheField(t *testing.T) {
	env := bustest.Start(t)
	srv := httptest.NewServer(newService(t, env).Handler())
	defer srv.Close()
	tests := []struct {
		name, contentType, body string
		status                  int
		field, detail           string
	}{
		{"malformed json", "application/json", `{"request_id":`, 400, "body", "truncated"},
		{"syntax error", "application/json", `{"request_id" "r1"}`, 400, "body", "malformed JSON"},
		{"empty body", "application/json", ``, 400, "body", "required"},
		{"not an object", "application/json", `["r1"]`, 400, "body", "JSON object"},
		{"trailing data", "application/json", `{"request_id":"r1","feedback_type":"true-positive"} {}`, 400, "body", "after the JSON object"},
		{"unknown field", "application/json", `{"request_id":"r1","feedback_type":"true-positive","diagnosis":"x"}`, 400, "diagnosis", "unknown field"},
		{"wrong type", "application/json", `{"request_id":"r1","feedback_type":"true-positive","confidence":"high"}`, 400, "confidence", "must be a float64"},
		{"missing request_id", "application/json", `{"feedback_type":"true-positive"}`, 400, "request_id", "required"},
		{"blank request_id", "application/json", `{"request_id":"  ","feedback_type":"true-positive"}`, 400, "request_id", "required"},
		{"missing type", "application/json", `{"request_id":"r1"}`, 400, "feedback_type", "required unless ground_truth"},
		{"unknown type", "application/json", `{"request_id":"r1","feedback_type":"maybe"}`, 400, "feedback_type", `"maybe": must be one of true-positive, false-positive, true-negative, false-negative`},
		{"bad ground truth", "application/json", `{"request_id":"r1","ground_truth":"COVID"}`, 400, "ground_truth", "must be NORMAL or PNEUMONIA"},
		{"contradiction", "application/json", `{"request_id":"r1","feedback_type":"true-positive","ground_truth":"NORMAL"}`, 400, "ground_truth", "contradicts"},
		{"confidence out of range", "application/json", `{"request_id":"r1","feedback_type":"true-positive","confidence":1.5}`, 400, "confidence", "between 0 and 1"},
		{"notes too long", "application/json", `{"request_id":"r1","feedback_type":"true-positive","notes":"` + strings.Repeat("n", proto.MaxNotesBytes+1) + `"}`, 400, "notes", "longer than"},
		{"bad feedback_id", "application/json", `{"request_id":"r1","feedback_type":"true-positive","feedback_id":"a b"}`, 400, "feedback_id", "not allowed"},
		{"bad source", "application/json", `{"request_id":"r1","feedback_type":"true-positive","source":"re view"}`, 400, "source", "not allowed"},
		{"newer schema", "application/json", `{"schema_version":2,"request_id":"r1","feedback_type":"true-positive"}`, 400, "schema_version", "newer than supported"},
		{"oversized body", "application/json", `{"request_id":"r1","feedback_type":"true-positive","notes":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body", "limit of 65536"},
		{"wrong media type", "text/plain", `{"request_id":"r1","feedback_type":"true-positive"}`, 415, "Content-Type", "must be application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := post(t, srv.URL, tc.contentType, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d; body %s", status, tc.status, body)
			}
			if ct := hdr.Get("Content-Type"); ct != client.ContentTypeProblem {
				t.Errorf("content type %q, want %q", ct, client.ContentTypeProblem)
			}
			var p client.Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("problem body %s: %v", body, err)
			}
			if p.Field != tc.field || p.Status != tc.status || p.Type == "" || p.Title == "" || !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("problem %+v, want field %q, detail containing %q", p, tc.field, tc.detail)
			}
			if tc.field != "body" && tc.field != "Content-Type" && !strings.HasPrefix(p.Detail, tc.field) {
				t.Errorf("detail %q does not start with the field %q", p.Detail, tc.field)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(srv.URL + client.Path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("GET: status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	if n := subjectCount(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRecorded); n != 0 {
		t.Errorf("%d feedback recorded from invalid submissions", n)
	}
}

func TestHTTPIdempotentDoublePost(t *testing.T) {
	env := bustest.Start(t)
	srv := httptest.NewServer(newService(t, env).Handler())
	defer srv.Close()
	body := `{"request_id":"req-double","feedback_type":"true-positive","radiologist_id":"DR001","confidence":0.8,"notes":"clear consolidation"}`
	var ids []string
	for i := range 3 {
		status, _, b := post(t, srv.URL, "application/json", body)
		if status != http.StatusAccepted {
			t.Fatalf("post %d: status %d %s", i, status, b)
		}
		var rec client.Receipt
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Duplicate != (i > 0) {
			t.Errorf("post %d: duplicate = %v", i, rec.Duplicate)
		}
		ids = append(ids, rec.FeedbackID)
	}
	if ids[0] != ids[1] || ids[1] != ids[2] || !strings.HasPrefix(ids[0], "fb-") || len(ids[0]) != 27 {
		t.Fatalf("feedback ids %v: want one derived id", ids)
	}
	// Same content with different spelling of the type normalizes to the same id.
	status, _, _ := post(t, srv.URL, "", strings.Replace(body, "true-positive", "True-Positive", 1))
	if status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	if n := subjectCount(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRecorded); n != 1 {
		t.Fatalf("%d recorded events after 4 posts of one feedback, want 1", n)
	}
	// A changed verdict is a different feedback.
	status, _, _ = post(t, srv.URL, "", strings.Replace(body, "true-positive", "false-positive", 1))
	if status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	if n := subjectCount(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRecorded); n != 2 {
		t.Fatalf("%d recorded events, want 2", n)
	}
}

func TestDeriveFeedbackID(t *testing.T) {
	base := proto.FeedbackSubmission{RequestID: "r1", FeedbackType: "true-positive", RadiologistID: "DR001", Notes: "n", Confidence: new(0.5)}
	id := feedback.DeriveFeedbackID(base, proto.LabelPneumonia)
	if id != feedback.DeriveFeedbackID(base, proto.LabelPneumonia) {
		t.Fatal("not deterministic")
	}
	variants := map[string]func(*proto.FeedbackSubmission){
		"request_id":     func(s *proto.FeedbackSubmission) { s.RequestID = "r2" },
		"radiologist_id": func(s *proto.FeedbackSubmission) { s.RadiologistID = "DR002" },
		"feedback_type":  func(s *proto.FeedbackSubmission) { s.FeedbackType = "false-negative" },
		"notes":          func(s *proto.FeedbackSubmission) { s.Notes = "m" },
		"confidence":     func(s *proto.FeedbackSubmission) { s.Confidence = new(0.6) },
		"no confidence":  func(s *proto.FeedbackSubmission) { s.Confidence = nil },
		"field boundary": func(s *proto.FeedbackSubmission) { s.RequestID, s.RadiologistID = "r1DR0", "01" },
	}
	for name, mutate := range variants {
		s := base
		mutate(&s)
		if feedback.DeriveFeedbackID(s, proto.LabelPneumonia) == id {
			t.Errorf("%s: same id", name)
		}
	}
}

func TestHTTPUnavailable(t *testing.T) {
	env := bustest.Start(t)
	srv := httptest.NewServer(newService(t, env, func(c *feedback.Config) { c.PublishTimeout = 500 * time.Millisecond }).Handler())
	defer srv.Close()
	if err := env.JS.DeleteStream(t.Context(), proto.StreamFeedback); err != nil {
		t.Fatal(err)
	}
	status, _, body := post(t, srv.URL, "application/json", `{"request_id":"r1","feedback_type":"true-positive"}`)
	var p client.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if status != http.StatusServiceUnavailable || !p.Temporary() || p.RequestID != "r1" {
		t.Fatalf("status %d, problem %+v", status, p)
	}
}

func TestNATSPath(t *testing.T) {
	env := bustest.Start(t)
	svc := newService(t, env, func(c *feedback.Config) { c.HTTPAddr = "127.0.0.1:0" })
	startRun(t, svc)
	ctx := t.Context()

	t.Run("plain publish is recorded", func(t *testing.T) {
		m := nats.NewMsg(proto.SubjectFeedbackSubmit)
		m.Data = []byte(`{"request_id":"n1","feedback_type":"false-negative","radiologist_id":"DR007"}`)
		if _, err := env.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
		bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			if n := subjectCount(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRecorded); n != 1 {
				return fmt.Errorf("%d recorded", n)
			}
			return nil
		})
		var ev proto.FeedbackRecorded
		if err := proto.Decode(lastMsg(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRecorded).Data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.RequestID != "n1" || ev.GroundTruth != proto.LabelPneumonia || ev.Source != feedback.SourceNATS || ev.RadiologistID != "DR007" {
			t.Errorf("recorded %+v", ev)
		}
	})

	t.Run("invalid publish is rejected and dead-lettered", func(t *testing.T) {
		m := nats.NewMsg(proto.SubjectFeedbackSubmit)
		m.Data = []byte(`{"request_id":"n2","feedback_type":"perhaps"}`)
		if _, err := env.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
		bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			if n := subjectCount(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRejected); n != 1 {
				return fmt.Errorf("%d rejected", n)
			}
			if n := subjectCount(t, env.JS, proto.StreamDeadLetter, proto.DeadLetterSubject(proto.ConsumerFeedback)); n != 1 {
				return fmt.Errorf("%d dead letters", n)
			}
			return nil
		})
		var rej proto.FeedbackRejected
		if err := proto.Decode(lastMsg(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRejected).Data, &rej); err != nil {
			t.Fatal(err)
		}
		if rej.RequestID != "n2" || !strings.HasPrefix(rej.Reason, `feedback_type "perhaps"`) || rej.Body != string(m.Data) {
			t.Errorf("rejection %+v", rej)
		}
	})

	t.Run("oversized publish is rejected with a truncated copy", func(t *testing.T) {
		m := nats.NewMsg(proto.SubjectFeedbackSubmit)
		m.Data = []byte(`{"request_id":"n-big","feedback_type":"true-positive","notes":"` + strings.Repeat("é", 40<<10) + `"}`)
		if _, err := env.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
		bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			if n := subjectCount(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRejected); n != 2 {
				return fmt.Errorf("%d rejected", n)
			}
			return nil
		})
		var rej proto.FeedbackRejected
		if err := proto.Decode(lastMsg(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRejected).Data, &rej); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(rej.Reason, "body:") || len(rej.Body) > 4096 || len(rej.Body) < 4090 || !utf8.ValidString(rej.Body) {
			t.Errorf("rejection reason %q, body of %d bytes", rej.Reason, len(rej.Body))
		}
	})

	t.Run("request reply", func(t *testing.T) {
		nc, err := client.NewNATS(env.Conn, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := nc.SubmitFeedback(ctx, "n3", "true-negative", client.RadiologistID("DR001"), client.Confidence(0.7))
		if err != nil {
			t.Fatal(err)
		}
		if rec.RequestID != "n3" || rec.GroundTruth != proto.LabelNormal || !strings.HasPrefix(rec.FeedbackID, "fb-") {
			t.Errorf("receipt %+v", rec)
		}
		_, err = nc.SubmitFeedback(ctx, "n4", "", client.GroundTruth("BACTERIAL"))
		var p *client.Problem
		if !errors.As(err, &p) || p.Field != "ground_truth" || p.Status != http.StatusBadRequest || p.RequestID != "n4" {
			t.Fatalf("error %v (%+v), want a problem naming ground_truth", err, p)
		}
	})

	t.Run("http listener", func(t *testing.T) {
		bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			if svc.Addr() == nil {
				return errors.New("not listening")
			}
			return nil
		})
		c, err := client.New("http://" + svc.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.SubmitFeedback(ctx, "n5", "true-positive"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	if err := feedback.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*feedback.Config){
		"http_addr":      func(c *feedback.Config) { c.HTTPAddr = "nocolon" },
		"max_body_bytes": func(c *feedback.Config) { c.MaxBodyBytes = 0 },
		"workers":        func(c *feedback.Config) { c.Workers = 0 },
		"ack_wait":       func(c *feedback.Config) { c.AckWait = 0 },
		"max_deliver":    func(c *feedback.Config) { c.MaxDeliver = 0 },
	}
	for field, mutate := range bad {
		c := feedback.DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %v", field, err)
		}
	}
	if _, err := feedback.New(feedback.DefaultConfig(), feedback.Deps{}); err == nil {
		t.Error("New without JetStream succeeded")
	}
}

// Compile-time check that both clients satisfy Submitter.
var (
	_ client.Submitter = (*client.Client)(nil)
	_ client.Submitter = (*client.NATSClient)(nil)
)
