package serving

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/predictor"
)

// Log attribute keys.
const (
	attrRequestID = "request_id"
	attrModel     = "model"
	attrVersion   = "model_version"
	attrArm       = "arm"
	attrEndpoint  = "endpoint"
)

// Config configures the serving endpoints.
type Config struct {
	// Experiment is the name of the experiment endpoint (/v2/models/<name>,
	// /invocations): the experiment the router applies. Default "pneumonia".
	Experiment string
	// ImageRoot is the folder that image_path and file:// image_uri inputs
	// may read from (absolute, or relative to the working directory). Empty
	// (the default) refuses every server-side path.
	ImageRoot string
	// MaxBodyBytes bounds a request body (default 32 MiB).
	MaxBodyBytes int64
	// MaxImageBytes bounds one image read from ImageRoot (default 32 MiB, the
	// ingestor's limit).
	MaxImageBytes int64
	// MaxBatch bounds the images of one request (default 64).
	MaxBatch int
	// MaxConcurrent bounds the requests decoding and running models at once
	// (default 2*GOMAXPROCS); others wait for a slot.
	MaxConcurrent int
	// PublishTimeout bounds publishing the inference results of one request
	// (default 10s).
	PublishTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Experiment:     "pneumonia",
		MaxBodyBytes:   32 << 20,
		MaxImageBytes:  32 << 20,
		MaxBatch:       64,
		MaxConcurrent:  2 * runtime.GOMAXPROCS(0),
		PublishTimeout: 10 * time.Second,
		Now:            time.Now,
	}
}

// Validate checks the configuration and names every bad field.
func (c Config) Validate() error {
	var errs []error
	if err := proto.ValidToken(c.Experiment); err != nil {
		errs = append(errs, fmt.Errorf("experiment %q: %v", c.Experiment, err))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("max_body_bytes %d: must be at least 1024", c.MaxBodyBytes))
	}
	if c.MaxImageBytes < 1 {
		errs = append(errs, fmt.Errorf("max_image_bytes %d: must be positive", c.MaxImageBytes))
	}
	if c.MaxBatch < 1 || c.MaxBatch > 4096 {
		errs = append(errs, fmt.Errorf("max_batch %d: must be between 1 and 4096", c.MaxBatch))
	}
	if c.MaxConcurrent < 1 {
		errs = append(errs, fmt.Errorf("max_concurrent %d: must be at least 1", c.MaxConcurrent))
	}
	if c.PublishTimeout <= 0 {
		errs = append(errs, fmt.Errorf("publish_timeout %s: must be positive", c.PublishTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("serving config: %w", err)
	}
	return nil
}

// Models runs the loaded models. *predictor.Service implements it.
type Models interface {
	// Arms lists the arms served, champion first.
	Arms() []string
	// WithModel calls fn with the model an arm serves now, keeping it in
	// service until fn returns; errors wrap predictor.ErrNotLoaded when the
	// arm has no model yet.
	WithModel(arm string, fn func(predictor.Loaded) error) error
}

// ExperimentSource says what the experiment endpoint applies now.
// *router.Service implements it.
type ExperimentSource interface {
	// Experiment returns the live experiment (split, mode, epoch), false
	// before it is loaded.
	Experiment() (proto.Experiment, bool)
}

// Deps are the collaborators. The server closes none of them.
type Deps struct {
	// Models runs inferences (required).
	Models Models
	// Experiment enables the experiment endpoint; nil disables it (its name
	// is then unknown, 404, and POST /invocations answers 404 too).
	Experiment ExperimentSource
	// JS publishes the inference results (required).
	JS jetstream.JetStream
	// Logger; default discards.
	Logger *slog.Logger
}

// Server serves the Open Inference Protocol v2 and the MLflow scoring
// protocol over the predictor's models. It is safe for concurrent use.
type Server struct {
	cfg       Config
	deps      Deps
	log       *slog.Logger
	imageRoot string // absolute ImageRoot, "" when none
	slots     chan struct{}
}

// New returns a server; mount it with Register or Handler.
func New(cfg Config, deps Deps) (*Server, error) {
	def := DefaultConfig()
	if cfg.Experiment == "" {
		cfg.Experiment = def.Experiment
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = def.MaxBodyBytes
	}
	if cfg.MaxImageBytes == 0 {
		cfg.MaxImageBytes = def.MaxImageBytes
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = def.MaxBatch
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = def.MaxConcurrent
	}
	if cfg.PublishTimeout == 0 {
		cfg.PublishTimeout = def.PublishTimeout
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Models == nil || deps.JS == nil {
		return nil, errors.New("serving: models and JetStream are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger.With("service", "serving"), slots: make(chan struct{}, cfg.MaxConcurrent)}
	if cfg.ImageRoot != "" {
		abs, err := filepath.Abs(cfg.ImageRoot)
		if err != nil {
			return nil, fmt.Errorf("serving config: image_root %q: %w", cfg.ImageRoot, err)
		}
		s.imageRoot = abs
	}
	return s, nil
}

// Routes of the server, as registered by Register (path patterns of
// net/http.ServeMux; each handler checks the method itself so that a wrong
// method gets a problem body).
const (
	RouteServerMetadata = "/v2"
	RouteLive           = "/v2/health/live"
	RouteReady          = "/v2/health/ready"
	RouteModelMetadata  = "/v2/models/{name}"
	RouteModelReady     = "/v2/models/{name}/ready"
	RouteModelInfer     = "/v2/models/{name}/infer"
	RouteVersionMeta    = "/v2/models/{name}/versions/{version}"
	RouteVersionReady   = "/v2/models/{name}/versions/{version}/ready"
	RouteVersionInfer   = "/v2/models/{name}/versions/{version}/infer"
	RouteV2Other        = "/v2/"
	RouteInvocations    = "/invocations"
	RouteEndpointInvoke = "/endpoints/{name}/invocations"
)

// Register adds every route to mux:
//
//	GET  /v2                                         server metadata
//	GET  /v2/health/live, /v2/health/ready           liveness; readiness (every arm has a model)
//	GET  /v2/models/{name}[/versions/{v}]            model metadata
//	GET  /v2/models/{name}[/versions/{v}]/ready      model readiness
//	POST /v2/models/{name}[/versions/{v}]/infer      inference (Open Inference Protocol v2)
//	POST /invocations                                MLflow scoring, experiment endpoint
//	POST /endpoints/{name}/invocations               MLflow scoring, a model, an alias or the experiment
//
// and answers any other /v2/ path with a 404 problem.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc(RouteServerMetadata, s.method(http.MethodGet, s.serveServerMetadata))
	mux.HandleFunc(RouteLive, s.method(http.MethodGet, s.serveLive))
	mux.HandleFunc(RouteReady, s.method(http.MethodGet, s.serveReady))
	mux.HandleFunc(RouteModelMetadata, s.method(http.MethodGet, s.serveModelMetadata))
	mux.HandleFunc(RouteVersionMeta, s.method(http.MethodGet, s.serveModelMetadata))
	mux.HandleFunc(RouteModelReady, s.method(http.MethodGet, s.serveModelReady))
	mux.HandleFunc(RouteVersionReady, s.method(http.MethodGet, s.serveModelReady))
	mux.HandleFunc(RouteModelInfer, s.method(http.MethodPost, s.serveInfer))
	mux.HandleFunc(RouteVersionInfer, s.method(http.MethodPost, s.serveInfer))
	mux.HandleFunc(RouteV2Other, func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, "", NotFoundRoute.New("path", "%s %s: no such route (see /v2/models/{name}, /v2/models/{name}/infer, /v2/health/ready)", r.Method, r.URL.Path))
	})
	mux.HandleFunc(RouteInvocations, s.method(http.MethodPost, s.serveInvocations))
	mux.HandleFunc(RouteEndpointInvoke, s.method(http.MethodPost, s.serveInvocations))
}

// Handler returns a handler serving only this server's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

// method restricts a handler to one method (HEAD too for GET).
func (s *Server) method(m string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != m && !(m == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", m)
			s.fail(w, r, "", MethodNotAllowed.New("method", "method %s: %s takes %s", r.Method, r.URL.Path, m))
			return
		}
		h(w, r)
	}
}

// acquire takes a slot for decoding and inference; release with the
// returned function.
func (s *Server) acquire(ctx context.Context) (func(), error) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-ctx.Done():
		return nil, Unavailable.New("", "no inference slot before the request ended: %v", ctx.Err())
	}
}
