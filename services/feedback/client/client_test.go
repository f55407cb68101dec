package client_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/feedback"
	"github.com/healthcare-ai/platform/services/feedback/client"
)

func TestSubmitFeedback(t *testing.T) {
	env := bustest.Start(t)
	cfg := feedback.DefaultConfig()
	cfg.HTTPAddr = ""
	svc, err := feedback.New(cfg, feedback.Deps{JS: env.JS})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	c, err := client.New(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// The seed's submit_feedback(request_id, "true-positive", radiologist_id="DR001").
	rec, err := c.SubmitFeedback(ctx, "req-1", "true-positive", client.RadiologistID("DR001"),
		client.Confidence(0.95), client.Notes("lobar consolidation"))
	if err != nil {
		t.Fatal(err)
	}
	want := feedback.DeriveFeedbackID(proto.FeedbackSubmission{RequestID: "req-1", FeedbackType: "true-positive",
		RadiologistID: "DR001", Confidence: new(0.95), Notes: "lobar consolidation"}, proto.LabelPneumonia)
	if rec.RequestID != "req-1" || rec.GroundTruth != proto.LabelPneumonia || rec.FeedbackID != want || rec.Duplicate {
		t.Fatalf("receipt %+v, want feedback_id %s", rec, want)
	}
	again, err := c.SubmitFeedback(ctx, "req-1", "true-positive", client.RadiologistID("DR001"),
		client.Confidence(0.95), client.Notes("lobar consolidation"))
	if err != nil || again.FeedbackID != rec.FeedbackID || !again.Duplicate {
		t.Fatalf("retry: %+v, %v", again, err)
	}

	rec, err = c.SubmitFeedback(ctx, "req-2", "", client.GroundTruth(proto.LabelNormal), client.FeedbackID("ui-7"), client.Source("review-ui"))
	if err != nil || rec.FeedbackID != "ui-7" || rec.GroundTruth != proto.LabelNormal {
		t.Fatalf("ground truth only: %+v, %v", rec, err)
	}

	cases := []struct {
		name      string
		requestID string
		typ       string
		opts      []client.Option
		field     string
	}{
		{"unknown type", "req-3", "maybe", nil, "feedback_type"},
		{"missing request", "", "true-positive", nil, "request_id"},
		{"bad confidence", "req-3", "true-positive", []client.Option{client.Confidence(2)}, "confidence"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SubmitFeedback(ctx, tc.requestID, tc.typ, tc.opts...)
			var p *client.Problem
			if !errors.As(err, &p) {
				t.Fatalf("error %v is not a *client.Problem", err)
			}
			if p.Field != tc.field || p.Status != http.StatusBadRequest || p.Temporary() {
				t.Errorf("problem %+v, want field %s", p, tc.field)
			}
		})
	}
}

func TestSubmitFeedbackNonProblemError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer srv.Close()
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SubmitFeedback(t.Context(), "r1", "true-positive")
	var p *client.Problem
	if !errors.As(err, &p) || p.Status != http.StatusBadGateway || !p.Temporary() {
		t.Fatalf("error %v (%+v)", err, p)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:8083", "ftp://x", "http://[::1"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
}
