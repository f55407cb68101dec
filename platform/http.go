package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/healthcare-ai/platform/api"
	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/httpapi/health"
	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/evaluator"
	"github.com/healthcare-ai/platform/services/feedback/client"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/services/rollout"
	"github.com/healthcare-ai/platform/services/serving"
	"github.com/healthcare-ai/platform/web"
)

// Route is one operation of the platform's REST API: an HTTP method and a
// path template in net/http.ServeMux syntax ("/v1/rollout/{experiment}",
// "/v1/requests/{request_id...}"). api/openapi.json documents exactly these.
type Route struct {
	Method  string
	Pattern string
}

// mount is one registration on the platform's ServeMux: the pattern, the
// handler, and the operations the handler serves under it. Most mounts are
// one operation with the pattern "METHOD /path". A handler that answers a
// wrong method itself (with a problem body, or its own 404/405) is mounted
// without a method, or as a subtree ("/v1/rollout/"), so that requests reach
// it as they always have; its operations then come from the service's
// exported route constants. A mount with no operations is a fallback (the
// Open Inference Protocol's 404 problem for any other /v2/ path).
type mount struct {
	pattern string
	handler http.Handler
	routes  []Route
	// access is who may call it: public, or the role a request's bearer
	// token must hold (auth.AnyRole: any signed-in user). See withRole.
	access access
}

// access is the authorisation of a mount: public, one role for every method,
// or a role for reads (GET, HEAD) and another for writes.
type access struct {
	set         bool // false: the mount forgot its rule; only admin may call it
	public      bool
	read, write auth.Role
}

// as sets the role every method of the mount needs.
func (m mount) as(role auth.Role) mount {
	m.access = access{set: true, read: role, write: role}
	return m
}

// asRW sets the role of reads and of writes.
func (m mount) asRW(read, write auth.Role) mount {
	m.access = access{set: true, read: read, write: write}
	return m
}

// open makes the mount public (no token needed).
func (m mount) open() mount { m.access = access{set: true, public: true}; return m }

// routeOf splits a "METHOD /path" ServeMux pattern.
func routeOf(pattern string) Route {
	method, path, _ := strings.Cut(pattern, " ")
	return Route{Method: method, Pattern: path}
}

// exact mounts h under a "METHOD /path" pattern that is also its only route.
func exact(pattern string, h http.Handler) mount {
	return mount{pattern: pattern, handler: h, routes: []Route{routeOf(pattern)}}
}

// checked mounts h under a method-less pattern for one method that h
// checks itself.
func checked(method, pattern string, h http.Handler) mount {
	return mount{pattern: pattern, handler: h, routes: []Route{{Method: method, Pattern: pattern}}}
}

// subtree mounts h under pattern for the "METHOD /path" routes it serves
// there.
func subtree(pattern string, h http.Handler, routes ...string) mount {
	m := mount{pattern: pattern, handler: h}
	for _, r := range routes {
		m.routes = append(m.routes, routeOf(r))
	}
	return m
}

// mounts is the platform's routing table: every route of Handler, in the
// order of the README's endpoint table.
func (p *Platform) mounts() []mount {
	ing := p.Ingestor.Handler()
	ev := p.Evaluator.Handler()
	srv := p.Serving.Handler()
	ms := []mount{
		exact("POST /v1/images", ing).as(auth.RoleIngest),
		exact("POST /v1/predict", p.Ingestor.PredictHandler(p.Waiter, p.cfg.SyncTimeout)).as(auth.RoleIngest),
		// The feedback service answers other methods with a 405 problem.
		checked(http.MethodPost, client.Path, p.Feedback.Handler()).as(auth.RoleRadiologist),
		exact(evaluator.RouteMetrics, ev).as(auth.RoleViewer),
		exact(evaluator.RouteExperimentMetrics, ev).as(auth.RoleViewer),
		// A subtree, as before: the evaluator answers the rest of
		// /v1/requests/ (and the mux redirects /v1/requests for any method).
		subtree("/v1/requests/", ev, evaluator.RouteRequest).as(auth.RoleViewer),
		exact("GET /v1/models", http.HandlerFunc(p.serveModels)).as(auth.RoleViewer),
	}
	if p.Rollout != nil {
		ms = append(ms, subtree("/v1/rollout/", p.Rollout.Handler(),
			rollout.RouteStatus, rollout.RouteApprove, rollout.RouteReject, rollout.RouteStart,
			rollout.RoutePromote, rollout.RouteRollback).asRW(auth.RoleViewer, auth.RoleApprover))
	}
	ms = append(ms,
		exact(RouteWhoAmI, http.HandlerFunc(p.serveWhoAmI)).as(auth.AnyRole),
		exact(RouteReviewQueue, http.HandlerFunc(p.serveReviewQueue)).as(auth.RoleRadiologist),
		exact(RouteReviewImage, http.HandlerFunc(p.serveReviewImage)).as(auth.RoleRadiologist),
	)
	// Web dashboard, review page and live events. (Note to the web package
	// author: the platform owner re-added these mounts with their access
	// rules after an edit collision; adjust them here, do not add a second
	// copy.)
	if p.Web != nil {
		wh := p.Web.Handler()
		ms = append(ms,
			// Pages and assets are public: they hold no data, and fetch
			// everything else with the user's token.
			exact(web.RouteDashboard, wh).open(),
			exact(web.RouteReview, wh).open(),
			// Not API operations (not in api/openapi.json): the redirect of
			// "/" to the dashboard and the pages' static assets.
			mount{pattern: web.RouteRoot, handler: wh}.open(),
			mount{pattern: web.RouteStatic, handler: wh}.open(),
			exact(web.RouteEvents, wh).as(auth.RoleViewer),
		)
	}
	ms = append(ms,
		exact(ingestor.RouteSTOW, ing).as(auth.RoleIngest),
		exact(ingestor.RouteSTOWStudy, ing).as(auth.RoleIngest),
		// The serving routes, as serving.Register adds them: method-less,
		// each handler answers a wrong method with a 405 problem. Liveness
		// and readiness are public, for orchestrators' probes.
		checked(http.MethodGet, serving.RouteServerMetadata, srv).as(auth.RoleIngest),
		checked(http.MethodGet, serving.RouteLive, srv).open(),
		checked(http.MethodGet, serving.RouteReady, srv).open(),
		checked(http.MethodGet, serving.RouteModelMetadata, srv).as(auth.RoleIngest),
		checked(http.MethodGet, serving.RouteVersionMeta, srv).as(auth.RoleIngest),
		checked(http.MethodGet, serving.RouteModelReady, srv).as(auth.RoleIngest),
		checked(http.MethodGet, serving.RouteVersionReady, srv).as(auth.RoleIngest),
		checked(http.MethodPost, serving.RouteModelInfer, srv).as(auth.RoleIngest),
		checked(http.MethodPost, serving.RouteVersionInfer, srv).as(auth.RoleIngest),
		mount{pattern: serving.RouteV2Other, handler: srv}.as(auth.RoleIngest),
		checked(http.MethodPost, serving.RouteInvocations, srv).as(auth.RoleIngest),
		checked(http.MethodPost, serving.RouteEndpointInvoke, srv).as(auth.RoleIngest),
		exact("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})).open(),
		exact("GET /readyz", http.HandlerFunc(p.serveReady)).open(),
		exact("GET /metrics", p.serveMetrics()).open(),
		exact("GET /openapi.json", http.HandlerFunc(serveOpenAPI)).open(),
	)
	return ms
}

// Handler returns every HTTP route of the platform (see Routes and
// api/openapi.json):
//
//	POST /v1/images                   asynchronous upload (ingestor)
//	POST /v1/predict                  synchronous prediction (ingestor + result waiter)
//	POST /v1/feedback                 radiologist feedback (feedback)
//	GET  /v1/metrics[/{experiment}]   live per-model metrics (evaluator)
//	GET  /v1/requests/{request_id}    joined state of one request (evaluator)
//	GET  /v1/models                   the model each arm serves
//	GET  /v1/rollout/{experiment}     decision engine: last decision, pending approval, history
//	POST /v1/rollout/{experiment}/approve|reject|start|promote|rollback
//	POST /dicom-web/studies[/{study}] DICOMweb STOW-RS from a PACS (ingestor)
//	/v2/...                           Open Inference Protocol v2 (serving)
//	POST /invocations, /endpoints/{name}/invocations   MLflow scoring (serving)
//	GET  /healthz, /readyz            liveness, readiness
//	GET  /metrics                     Prometheus metrics (Platform.Metrics)
//	GET  /openapi.json                the OpenAPI 3.1 document of this API
func (p *Platform) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, m := range p.mounts() {
		mux.Handle(m.pattern, p.authorize(m))
	}
	return p.httpMetrics.Wrap(unroutedProblems(mux))
}

// authorize wraps a mount's handler with its access rule (Config.Auth nil:
// every request runs as auth.Anonymous).
func (p *Platform) authorize(m mount) http.Handler {
	if !m.access.set {
		// Deny by default: a route added without a rule is for admins only
		// (TestEveryMountHasAnAccessRule catches it).
		return auth.Require(p.cfg.Auth, auth.RoleAdmin, m.handler)
	}
	if m.access.public {
		return m.handler
	}
	return auth.RequireRW(p.cfg.Auth, m.access.read, m.access.write, m.handler)
}

// Problem types of requests that no route serves.
var (
	problemNoRoute  = problem.Kind{Slug: "route-not-found", Title: "No such endpoint", Status: http.StatusNotFound}
	problemNoMethod = problem.Kind{Slug: "method-not-allowed", Title: "Method not allowed", Status: http.StatusMethodNotAllowed}
)

// unroutedProblems answers a path that no route serves (404) or a method a
// route does not take (405, with Allow) as problem details, like every other
// error, instead of the router's plain text. Redirects of the router (a
// missing trailing slash) pass through.
func unroutedProblems(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusNotFound:
			problem.Write(w, problemNoRoute.New("", "no endpoint %s %s (see GET /openapi.json)", r.Method, r.URL.Path))
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", rec.header.Get("Allow"))
			problem.Write(w, problemNoMethod.New("", "%s %s: this endpoint takes %s", r.Method, r.URL.Path, rec.header.Get("Allow")))
		default:
			mux.ServeHTTP(w, r)
		}
	})
}

// headerRecorder captures the status and headers of the router's own
// answer (its body, plain text, is dropped).
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return len(b), nil
}
func (h *headerRecorder) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

// Routes lists the operations Handler serves (without HEAD, which every GET
// route also answers), in the order of its routing table.
func (p *Platform) Routes() []Route {
	var out []Route
	for _, m := range p.mounts() {
		out = append(out, m.routes...)
	}
	return out
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(api.Document())
}

type armModel struct {
	Arm          string  `json:"arm"`
	ModelName    string  `json:"served_model_name"`
	ModelVersion string  `json:"model_version"`
	Architecture string  `json:"architecture"`
	Release      string  `json:"release"`
	Threshold    float64 `json:"threshold"`
	Input        string  `json:"input"`
}

func (p *Platform) serveModels(w http.ResponseWriter, _ *http.Request) {
	var out []armModel
	for _, arm := range proto.Arms {
		ref, md, ok := p.Predictor.Serving(arm)
		if !ok {
			continue
		}
		out = append(out, armModel{Arm: arm, ModelName: ref.Name, ModelVersion: ref.Version, Architecture: md.Architecture,
			Release: md.Version, Threshold: md.Threshold,
			Input: fmt.Sprintf("%dx%dx%d %s", md.Preprocess.Channels, md.Preprocess.Height, md.Preprocess.Width, md.Preprocess.Resize)})
	}
	exp, _ := p.Router.Experiment()
	writeJSON(w, http.StatusOK, map[string]any{"experiment": exp, "arms": out})
}

// serveReady answers 200 with each check (nats, predictor, evaluator: true),
// or 503 problem details naming the failing checks, with every check as an
// extension member (package health, as the service binaries' /readyz).
func (p *Platform) serveReady(w http.ResponseWriter, r *http.Request) {
	health.Ready(p.readyChecks()...).ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *Platform) serveHTTP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("platform: listen on %s: %w", addr, err)
	}
	p.httpAddr = ln.Addr()
	p.httpSrv = &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := p.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}
