// Package health answers liveness and readiness probes the same way in the
// one-process platform (GET /healthz, GET /readyz) and in every service
// binary's ops listener (package svcmain).
//
// Readiness is a list of named checks: the NATS connection is CONNECTED, the
// predictor has its models loaded, the evaluator has loaded its join state,
// and so on. Ready answers 200 with every check as a JSON object of booleans,
// or 503 application/problem+json (type .../not-ready) whose detail names
// the failing checks, with every check as an extension member.
package health

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/healthcare-ai/platform/httpapi/problem"
)

// Check is one named readiness condition.
type Check struct {
	Name  string
	Ready func() bool
}

// NATS is ready while nc's status is CONNECTED (not reconnecting, draining
// or closed).
func NATS(nc *nats.Conn) Check {
	return Check{Name: "nats", Ready: func() bool { return nc != nil && nc.Status() == nats.CONNECTED }}
}

// Closed is ready once ch is closed (the evaluator's and the rollout
// controller's Ready channels).
func Closed(name string, ch <-chan struct{}) Check {
	return Check{Name: name, Ready: func() bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}}
}

// Func is ready when f returns true (the predictor's Ready).
func Func(name string, f func() bool) Check { return Check{Name: name, Ready: f} }

// NotReady is the problem kind of a failing readiness probe.
var NotReady = problem.Kind{Slug: "not-ready", Title: "Not ready", Status: http.StatusServiceUnavailable}

// Evaluate runs the checks and returns each one's result and the sorted
// names of those failing.
func Evaluate(checks []Check) (results map[string]bool, failing []string) {
	results = make(map[string]bool, len(checks))
	for _, c := range checks {
		results[c.Name] = c.Ready()
	}
	for _, name := range slices.Sorted(maps.Keys(results)) {
		if !results[name] {
			failing = append(failing, name)
		}
	}
	return results, failing
}

// Ready answers a readiness probe from checks (see the package doc).
func Ready(checks ...Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		results, failing := Evaluate(checks)
		w.Header().Set("Cache-Control", "no-store")
		if len(failing) == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_ = json.NewEncoder(w).Encode(results)
			return
		}
		pr := NotReady.New("", "not ready: %s", strings.Join(failing, ", "))
		body := map[string]any{"type": pr.Type, "title": pr.Title, "status": pr.Status, "detail": pr.Detail}
		for name, ok := range results {
			body[name] = ok
		}
		w.Header().Set("Content-Type", problem.ContentType)
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(pr.Status)
		_ = json.NewEncoder(w).Encode(body)
	})
}

// Live answers a liveness probe: 200 {"status":"ok"} while the process
// serves HTTP at all.
func Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
}
