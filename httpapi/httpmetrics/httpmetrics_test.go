package httpmetrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/healthcare-ai/platform/httpapi/httpmetrics"
)

func TestWrapLabelsByPattern(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := httpmetrics.New(reg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("POST /v1/things", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	h := m.Wrap(mux)
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/v1/things/1", nil),
		httptest.NewRequest(http.MethodGet, "/v1/things/2", nil),
		httptest.NewRequest(http.MethodPost, "/v1/things", nil),
		httptest.NewRequest(http.MethodGet, "/nowhere/123", nil),
		httptest.NewRequest("BREW", "/nowhere/456", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if got := testutil.CollectAndCount(reg, "hap_http_requests_total"); got != 4 {
		t.Fatalf("%d series, want 4 (by pattern, not path)", got)
	}
	c, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"GET /v1/things/{id}|GET|200": 2,
		"POST /v1/things|POST|202":    1,
		"unmatched|GET|404":           1,
		"unmatched|OTHER|404":         1,
	}
	for _, mf := range c {
		if mf.GetName() != "hap_http_requests_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range s.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			k := l["route"] + "|" + l["method"] + "|" + l["code"]
			if want[k] != s.GetCounter().GetValue() {
				t.Errorf("%s = %v, want %v", k, s.GetCounter().GetValue(), want[k])
			}
		}
	}
	if nilM := (*httpmetrics.Metrics)(nil); nilM.Wrap(mux) == nil {
		t.Fatal("nil Metrics must return the handler")
	}
}
