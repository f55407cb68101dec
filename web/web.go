// Package web serves the platform's browser pages and their live data: the
// operations dashboard (/dashboard), the radiologist review page (/review),
// their static assets (embedded, no build step, no third-party code) and a
// server-sent events stream (/v1/events) that carries the evaluator's metrics
// snapshots, the rollout decisions, drift signals and alerts, and the counts
// of rejected images, as they are published on NATS.
//
// One hub per Server follows the streams (JetStream ordered consumers, or a
// plain subscription when no stream captures a subject), keeps a bounded
// history per experiment, and fans events out to the connected browsers, each
// with a bounded buffer: a client that falls behind is dropped (its browser
// reconnects with Last-Event-ID), it never slows the hub.
//
// Authentication is not done here: the platform wraps Handler in its auth
// middleware. The pages send the bearer token with every /v1/ request.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/proto"
)

// Routes served by Handler. RouteRoot and RouteStatic are not API
// operations (a redirect and the page assets) and are not in the OpenAPI
// document.
const (
	RouteRoot      = "GET /{$}"
	RouteDashboard = "GET /dashboard"
	RouteReview    = "GET /review"
	RouteStatic    = "GET /static/{file...}"
	RouteEvents    = "GET /v1/events"
)

// Config configures the web server.
type Config struct {
	// Experiment is what the pages show when the URL names none (default
	// "pneumonia", the router's default).
	Experiment string
	// Snapshots, Decisions and Alerts bound the history kept per experiment
	// and replayed to a new client: metrics snapshots (default 100, what the
	// METRICS stream keeps per subject), decisions (200), drift and alert
	// events (100).
	Snapshots, Decisions, Alerts int
	// DecisionBacklog is how many messages of the DECISIONS stream the hub
	// reads at start (the newest; default 5000).
	DecisionBacklog int
	// RejectedSince bounds the xray.rejected events counted at start: only
	// those of the last RejectedSince (default 7 days); later ones are
	// counted as they come.
	RejectedSince time.Duration
	// MaxClients bounds the connected event streams (default 64); more get
	// 503 with Retry-After.
	MaxClients int
	// ClientBuffer is the number of events queued for one client (default
	// 256); a client whose queue is full is disconnected.
	ClientBuffer int
	// Heartbeat is the interval of the comment line that keeps idle streams
	// (and proxies) alive (default 15 s).
	Heartbeat time.Duration
	// Retry is the reconnection delay sent to browsers (default 2 s).
	Retry time.Duration
	// WriteTimeout bounds one write to a client (default 20 s).
	WriteTimeout time.Duration
	// MaxExperiments bounds the experiments the hub keeps history for
	// (default 64).
	MaxExperiments int
}

// DefaultConfig returns the defaults described on Config.
func DefaultConfig() Config {
	return Config{
		Experiment: "pneumonia", Snapshots: 100, Decisions: 200, Alerts: 100, DecisionBacklog: 5000,
		RejectedSince: 7 * 24 * time.Hour, MaxClients: 64, ClientBuffer: 256,
		Heartbeat: 15 * time.Second, Retry: 2 * time.Second, WriteTimeout: 20 * time.Second, MaxExperiments: 64,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if err := proto.ValidToken(c.Experiment); err != nil {
		return fmt.Errorf("web: experiment %q: %v", c.Experiment, err)
	}
	for name, v := range map[string]int{
		"snapshots": c.Snapshots, "decisions": c.Decisions, "alerts": c.Alerts, "max clients": c.MaxClients,
		"client buffer": c.ClientBuffer, "max experiments": c.MaxExperiments,
	} {
		if v <= 0 {
			return fmt.Errorf("web: %s %d: must be positive", name, v)
		}
	}
	if c.Heartbeat <= 0 || c.Retry <= 0 || c.WriteTimeout <= 0 || c.RejectedSince <= 0 || c.DecisionBacklog <= 0 {
		return errors.New("web: heartbeat, retry, write timeout, rejected window and decision backlog must be positive")
	}
	return nil
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Experiment == "" {
		c.Experiment = d.Experiment
	}
	fill := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	fill(&c.Snapshots, d.Snapshots)
	fill(&c.Decisions, d.Decisions)
	fill(&c.Alerts, d.Alerts)
	fill(&c.DecisionBacklog, d.DecisionBacklog)
	fill(&c.MaxClients, d.MaxClients)
	fill(&c.ClientBuffer, d.ClientBuffer)
	fill(&c.MaxExperiments, d.MaxExperiments)
	fillD := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	fillD(&c.Heartbeat, d.Heartbeat)
	fillD(&c.Retry, d.Retry)
	fillD(&c.WriteTimeout, d.WriteTimeout)
	fillD(&c.RejectedSince, d.RejectedSince)
	return c
}

// Deps are the connections the server uses; it closes none of them.
type Deps struct {
	Conn   *nats.Conn
	JS     jetstream.JetStream
	Logger *slog.Logger
}

// Server serves the pages and the event stream.
type Server struct {
	cfg     Config
	conn    *nats.Conn
	js      jetstream.JetStream
	log     *slog.Logger
	hub     *hub
	assets  *assets
	handler http.Handler
}

// New returns a server; Run starts following NATS, Handler serves HTTP.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Conn == nil || deps.JS == nil {
		return nil, errors.New("web: NATS connection and JetStream are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, conn: deps.Conn, js: deps.JS, log: deps.Logger.With("service", "web"), assets: a}
	s.hub = newHub(cfg, s.log)
	s.handler = s.routes()
	return s, nil
}

// Handler serves the routes (see the Route constants).
func (s *Server) Handler() http.Handler { return s.handler }

// CloseStreams ends every open event stream and refuses new ones, so that an
// HTTP server's graceful Shutdown does not wait for browsers that never hang
// up. Browsers reconnect (to the next server) on their own.
func (s *Server) CloseStreams() { s.hub.close() }

// Run follows the metrics, decisions, alerts and rejected-image subjects
// until ctx ends, then closes the event streams.
func (s *Server) Run(ctx context.Context) error {
	defer s.hub.close()
	stop, err := s.follow(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	defer stop()
	go s.hub.tick(ctx)
	<-ctx.Done()
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(RouteRoot, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dashboard", http.StatusFound)
	})
	mux.HandleFunc(RouteDashboard, s.page("dashboard.html"))
	mux.HandleFunc(RouteReview, s.page("review.html"))
	mux.HandleFunc(RouteStatic, s.serveStatic)
	mux.HandleFunc(RouteEvents, s.serveEvents)
	return mux
}
