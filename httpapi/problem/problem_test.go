package problem_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/healthcare-ai/platform/httpapi/problem"
)

func TestWriteAndFrom(t *testing.T) {
	kind := problem.Kind{Slug: "invalid-tensor-shape", Title: "Invalid tensor shape", Status: http.StatusBadRequest}
	err := fmt.Errorf("decode: %w", kind.New("inputs[0].shape", "shape %v: want [N 1 64 64]", []int{1, 2}))
	p := problem.From(err)
	if !kind.Is(err) || p.Type != "https://healthcare-ai.example/problems/invalid-tensor-shape" || p.Slug() != kind.Slug || p.Temporary() {
		t.Fatalf("problem %+v", p)
	}
	p.RequestID = "r-1"
	rec := httptest.NewRecorder()
	problem.Write(rec, p)
	if rec.Code != 400 || rec.Header().Get("Content-Type") != problem.ContentType || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("status %d headers %v", rec.Code, rec.Header())
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": kind.Type(), "title": "Invalid tensor shape", "status": 400.0,
		"detail": "shape [1 2]: want [N 1 64 64]", "field": "inputs[0].shape", "request_id": "r-1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("body %v, want %v", got, want)
	}

	// Any other error is an internal problem; 503 gets a Retry-After.
	if p := problem.From(errors.New("boom")); p.Status != 500 || p.Type != problem.Internal.Type() || p.Detail != "boom" {
		t.Errorf("internal %+v", p)
	}
	rec = httptest.NewRecorder()
	problem.Write(rec, problem.Unavailable.New("", "later"))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("unavailable: %d %v", rec.Code, rec.Header())
	}
	if problem.From(nil) != nil {
		t.Error("From(nil) is not nil")
	}
}
