package health_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/healthcare-ai/platform/httpapi/health"
)

func TestReady(t *testing.T) {
	ch := make(chan struct{})
	loaded := false
	h := health.Ready(health.Closed("evaluator", ch), health.Func("predictor", func() bool { return loaded }), health.NATS(nil))
	get := func() (int, map[string]any) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		return rec.Code, body
	}
	code, body := get()
	if code != http.StatusServiceUnavailable || body["detail"] != "not ready: evaluator, nats, predictor" || body["type"] != health.NotReady.Type() {
		t.Fatalf("not ready: %d %v", code, body)
	}
	close(ch)
	loaded = true
	h = health.Ready(health.Closed("evaluator", ch), health.Func("predictor", func() bool { return loaded }))
	if code, body := get(); code != http.StatusOK || body["evaluator"] != true || body["predictor"] != true {
		t.Fatalf("ready: %d %v", code, body)
	}
	rec := httptest.NewRecorder()
	health.Live().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "{\"status\":\"ok\"}\n" {
		t.Fatalf("live: %d %q", rec.Code, rec.Body)
	}
}
