package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/httpapi/problem"
)

// Routes served by Handler.
const (
	RouteMetrics           = "GET /v1/metrics"
	RouteExperimentMetrics = "GET /v1/metrics/{experiment}"
	RouteRequest           = "GET /v1/requests/{request_id...}"
)

// Handler serves the metrics and request state over HTTP (503 until Ready).
func (s *Service) Handler() http.Handler { return s.handler }

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(RouteMetrics, s.whenReady(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, "application/json", s.Overview())
	}))
	mux.HandleFunc(RouteExperimentMetrics, s.whenReady(s.serveExperiment))
	mux.HandleFunc(RouteRequest, s.whenReady(s.serveRequest))
	return mux
}

func (s *Service) whenReady(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-s.ready:
			h(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			s.problem(w, r, http.StatusServiceUnavailable, "", "evaluator is loading its state")
		}
	}
}

func (s *Service) serveExperiment(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("experiment")
	snap, ok := s.agg.snapshot(name)
	if !ok {
		s.problem(w, r, http.StatusNotFound, "experiment", fmt.Sprintf("experiment %q: no results seen", name))
		return
	}
	s.stamp(&snap)
	writeJSON(w, http.StatusOK, "application/json", snap)
}

// RequestView is the body of GET /v1/requests/{request_id}: the stored state
// with its verdict re-derived under the current policy.
type RequestView struct {
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
	RequestState
}

func (s *Service) serveRequest(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("request_id")
	view, err := s.Request(r.Context(), id)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		s.problem(w, r, http.StatusNotFound, "request_id", fmt.Sprintf("request_id %q: no result or feedback seen", id))
	case err != nil:
		s.log.ErrorContext(r.Context(), "read request state", logRequestID, id, logErr, err)
		s.problem(w, r, http.StatusServiceUnavailable, "", "read request state: "+err.Error())
	default:
		writeJSON(w, http.StatusOK, "application/json", view)
	}
}

// ErrNotReady is returned by Request before Run has loaded the state.
var ErrNotReady = errors.New("evaluator: state not loaded yet")

// Request reads the joined state of one request (jetstream.ErrKeyNotFound
// when the evaluator has seen nothing of it).
func (s *Service) Request(ctx context.Context, requestID string) (*RequestView, error) {
	select {
	case <-s.ready:
	default:
		return nil, ErrNotReady
	}
	key := StateKey(requestID)
	entry, err := s.kv.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	st, err := decodeState(key, entry.Value())
	if err != nil {
		return nil, err
	}
	st.Verdict = Judge(st, s.cfg.Policy)
	return &RequestView{Key: key, Revision: entry.Revision(), RequestState: *st}, nil
}

// Problem types of the evaluator's HTTP API.
var (
	problemNotFound    = problem.Kind{Slug: "not-found", Title: "Not found", Status: http.StatusNotFound}
	problemUnavailable = problem.Kind{Slug: "unavailable", Title: "Service unavailable", Status: http.StatusServiceUnavailable}
)

// problem writes RFC 9457 problem details naming the field.
func (s *Service) problem(w http.ResponseWriter, r *http.Request, status int, field, detail string) {
	s.log.Log(r.Context(), slog.LevelDebug, "http problem", "status", status, "field", field, "detail", detail)
	k := problemUnavailable
	if status == http.StatusNotFound {
		k = problemNotFound
	}
	p := k.New(field, "%s", detail)
	p.Status = status
	problem.Write(w, p)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
