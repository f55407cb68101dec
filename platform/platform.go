// Package platform runs the whole Healthcare AI Platform in one process: an
// embedded NATS server with JetStream on disk (or an external NATS URL), the
// local blob store, the model registry seeded from the committed models, and
// the five services (ingestor, router, predictor, feedback, evaluator) and
// the optional ones (table writer, rollout controller, drift monitor), with
// their HTTP routes mounted on one listener. It is what `hap serve` and
// `hap demo` run, and what the end-to-end tests start.
package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/httpapi/httpmetrics"
	"github.com/healthcare-ai/platform/model/onnxrt"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/registry"
	"github.com/healthcare-ai/platform/results"
	"github.com/healthcare-ai/platform/services/drift"
	"github.com/healthcare-ai/platform/services/evaluator"
	"github.com/healthcare-ai/platform/services/feedback"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/services/predictor"
	"github.com/healthcare-ai/platform/services/rollout"
	"github.com/healthcare-ai/platform/services/router"
	"github.com/healthcare-ai/platform/services/serving"
	"github.com/healthcare-ai/platform/services/tablewriter"
	"github.com/healthcare-ai/platform/web"
)

// Default model files (in ModelsDir) that seed the champion and challenger
// aliases on first start.
const (
	DefaultChampion   = "pneumonia-simplecnn.onnx"
	DefaultChallenger = "pneumonia-resnet.onnx"
)

// Config configures the one-process platform.
type Config struct {
	// DataDir holds the JetStream store (nats/), the local blob store (blobs/)
	// and the generated patient salt. Default "var/hap".
	DataDir string
	// Env names the environment (dev, pilot, prod): every blob key (images and
	// tables) lives under "<env>/" in the store, so environments can share one
	// bucket or folder without collisions. Default "dev".
	Env string
	// OpenBlobs opens the store for images and tables; nil uses the folder
	// DataDir/blobs. (`hap serve -blob s3://...` passes an S3 store.)
	OpenBlobs func(ctx context.Context) (blob.Store, error)
	// TablesOff disables the lakehouse table writer.
	TablesOff bool
	// RolloutOff disables the decision engine and rollout controller.
	RolloutOff bool
	// DriftOff disables the drift monitor.
	DriftOff bool
	// NATSURL connects to an external NATS server; empty starts an embedded one.
	NATSURL string
	// NATSHost and NATSPort are where the embedded server listens (default
	// 127.0.0.1:4222; port -1 picks a free port).
	NATSHost string
	NATSPort int
	// SyncAlways makes the embedded JetStream fsync before acknowledging
	// (default true in DefaultConfig: clinical data).
	SyncAlways bool
	// HTTPAddr serves every service's routes; empty serves none.
	HTTPAddr string
	// ModelsDir, Champion and Challenger seed the registry on first start.
	ModelsDir  string
	Champion   string
	Challenger string
	// PatientSalt keys patient pseudonyms. Empty: read DataDir/patient-salt,
	// creating it with a random value on first start.
	PatientSalt string
	// Auth maps bearer tokens to users and roles (see package auth); every
	// route but the health, readiness and OpenAPI ones then needs a token
	// with the route's role. Nil runs without authentication: every request
	// is auth.Anonymous, with every role (local development and tests only).
	Auth *auth.Users
	// SyncTimeout bounds POST /v1/predict.
	SyncTimeout time.Duration

	Ingestor  ingestor.Config
	Router    router.Config
	Predictor predictor.Config
	Feedback  feedback.Config
	Evaluator evaluator.Config
	Tables    tablewriter.Config
	Rollout   rollout.Config
	Drift     drift.Config

	Logger *slog.Logger
}

// DefaultConfig returns the embedded default.
func DefaultConfig() Config {
	c := Config{
		DataDir:     "var/hap",
		Env:         "dev",
		NATSHost:    "127.0.0.1",
		NATSPort:    4222,
		SyncAlways:  true,
		HTTPAddr:    "127.0.0.1:8080",
		ModelsDir:   "models",
		Champion:    DefaultChampion,
		Challenger:  DefaultChallenger,
		SyncTimeout: 30 * time.Second,
		Ingestor:    ingestor.DefaultConfig(),
		Router:      router.DefaultConfig(),
		Predictor:   predictor.DefaultConfig(),
		Feedback:    feedback.DefaultConfig(),
		Evaluator:   evaluator.DefaultConfig(),
		Tables:      tablewriter.DefaultConfig(),
		Rollout:     rollout.DefaultConfig(),
		Drift:       drift.DefaultConfig(),
	}
	// One listener serves every route; the services do not listen themselves.
	c.Ingestor.HTTPAddr, c.Feedback.HTTPAddr, c.Evaluator.HTTPAddr = "", "", ""
	return c
}

// Platform is a running platform. Stop it with Stop.
type Platform struct {
	cfg    Config
	log    *slog.Logger
	Server *server.Server // nil with an external NATS
	Conn   *nats.Conn
	JS     jetstream.JetStream
	Blobs  blob.Store // images and tables, keys under Config.Env

	Registry  *registry.Registry
	Ingestor  *ingestor.Service
	Router    *router.Service
	Predictor *predictor.Service
	Feedback  *feedback.Service
	Evaluator *evaluator.Service
	Tables    *tablewriter.Service // nil when Config.TablesOff
	Rollout   *rollout.Service     // nil when Config.RolloutOff
	Drift     *drift.Service       // nil when Config.DriftOff
	Serving   *serving.Server      // Open Inference Protocol v2 and MLflow scoring
	Web       *web.Server          // dashboard, review page and live events (/v1/events)
	Waiter    *results.Waiter
	// Metrics holds every service's Prometheus metrics, the HTTP and
	// JetStream consumer metrics and the Go and process collectors; GET
	// /metrics serves it.
	Metrics     *prometheus.Registry
	httpMetrics *httpmetrics.Metrics // of Handler

	httpSrv  *http.Server
	httpAddr net.Addr
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	mu       sync.Mutex
	errs     []error
}

// NATSURL is the URL clients (and the nats CLI) use to reach the platform.
func (p *Platform) NATSURL() string {
	if p.Server != nil {
		return p.Server.ClientURL()
	}
	return p.cfg.NATSURL
}

// HTTPAddr is the address of the HTTP listener (nil when disabled).
func (p *Platform) HTTPAddr() net.Addr { return p.httpAddr }

// Start starts the platform and returns once every service is running, the
// predictor has loaded both models and the evaluator has loaded its state.
func Start(ctx context.Context, cfg Config) (_ *Platform, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("platform: data dir is required")
	}
	p := &Platform{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			p.Stop(context.WithoutCancel(ctx))
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("platform: create data dir: %w", err)
	}
	lib, err := onnxrt.LibraryPath()
	if err != nil {
		return nil, err
	}
	if err := onnxrt.Init(lib); err != nil {
		return nil, err
	}
	url := cfg.NATSURL
	if url == "" {
		p.Server, err = bus.StartServer(bus.ServerConfig{
			StoreDir: filepath.Join(cfg.DataDir, "nats"), Host: cfg.NATSHost, Port: cfg.NATSPort, SyncAlways: cfg.SyncAlways,
		})
		if err != nil {
			return nil, fmt.Errorf("platform: %w", err)
		}
		url = p.Server.ClientURL()
	}
	if p.Conn, err = bus.Connect(url, "hap-platform"); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if p.JS, err = jetstream.New(p.Conn); err != nil {
		return nil, fmt.Errorf("platform: jetstream: %w", err)
	}
	p.initMetrics()
	if err := bus.EnsureStreams(ctx, p.JS, bus.DefaultStreamsConfig()); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if p.Blobs, err = openBlobs(ctx, cfg); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	rcfg := registry.DefaultConfig()
	rcfg.Logger = p.log
	if p.Registry, err = registry.Open(ctx, p.JS, rcfg); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if cfg.ModelsDir != "" {
		seed, err := p.Registry.SeedFromDir(ctx, cfg.ModelsDir, map[string]string{
			proto.ArmChampion: cfg.Champion, proto.ArmChallenger: cfg.Challenger,
		})
		if err != nil {
			return nil, fmt.Errorf("platform: seed registry from %s: %w", cfg.ModelsDir, err)
		}
		p.log.Info("registry seeded", "versions", len(seed.Versions), "aliases_set", seed.AliasesSet, "aliases_kept", seed.AliasesKept)
	}
	salt := cfg.PatientSalt
	if salt == "" {
		if salt, err = loadSalt(filepath.Join(cfg.DataDir, "patient-salt")); err != nil {
			return nil, err
		}
	}
	icfg := cfg.Ingestor
	icfg.PatientSalt = salt
	if p.Ingestor, err = ingestor.New(icfg, ingestor.Deps{JS: p.JS, Store: p.Blobs, Logger: p.log, Metrics: p.Metrics}); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if p.Router, err = router.New(cfg.Router, router.Deps{JS: p.JS, Logger: p.log, Metrics: p.Metrics}); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if p.Predictor, err = predictor.New(cfg.Predictor, predictor.Deps{
		JS: p.JS, Models: predictor.RegistrySource{Registry: p.Registry}, Blobs: p.Blobs, Log: p.log, Metrics: p.Metrics,
	}); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if p.Feedback, err = feedback.New(cfg.Feedback, feedback.Deps{JS: p.JS, Logger: p.log, Metrics: p.Metrics}); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if p.Evaluator, err = evaluator.New(cfg.Evaluator, evaluator.Deps{JS: p.JS, Logger: p.log, Metrics: p.Metrics}); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if !cfg.TablesOff {
		if p.Tables, err = tablewriter.New(cfg.Tables, tablewriter.Deps{JS: p.JS, Store: p.Blobs, Logger: p.log, Metrics: p.Metrics}); err != nil {
			return nil, fmt.Errorf("platform: %w", err)
		}
	}
	if !cfg.RolloutOff {
		if p.Rollout, err = rollout.New(cfg.Rollout, rollout.Deps{JS: p.JS, Registry: p.Registry, Logger: p.log, Metrics: p.Metrics}); err != nil {
			return nil, fmt.Errorf("platform: %w", err)
		}
	}
	if !cfg.DriftOff {
		if p.Drift, err = drift.New(cfg.Drift, drift.Deps{
			JS: p.JS, References: drift.RegistryReferences{Registry: p.Registry}, Logger: p.log, Metrics: p.Metrics,
		}); err != nil {
			return nil, fmt.Errorf("platform: %w", err)
		}
	}
	scfg := serving.DefaultConfig()
	scfg.Experiment = cfg.Router.Experiment
	if p.Serving, err = serving.New(scfg, serving.Deps{Models: p.Predictor, Experiment: p.Router, JS: p.JS, Logger: p.log}); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	wcfg := web.DefaultConfig()
	wcfg.Experiment = cfg.Router.Experiment
	if p.Web, err = web.New(wcfg, web.Deps{Conn: p.Conn, JS: p.JS, Logger: p.log}); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if p.Waiter, err = results.NewWaiter(p.Conn); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	services := map[string]func(context.Context) error{
		"ingestor": p.Ingestor.Run, "router": p.Router.Run, "predictor": p.Predictor.Run,
		"feedback": p.Feedback.Run, "evaluator": p.Evaluator.Run, "web": p.Web.Run,
	}
	if p.Tables != nil {
		services["tablewriter"] = p.Tables.Run
	}
	if p.Rollout != nil {
		services["rollout"] = p.Rollout.Run
	}
	if p.Drift != nil {
		services["drift"] = p.Drift.Run
	}
	for name, run := range services {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := run(runCtx); err != nil {
				p.log.Error("service stopped", "service", name, "err", err)
				p.mu.Lock()
				p.errs = append(p.errs, fmt.Errorf("%s: %w", name, err))
				p.mu.Unlock()
			}
		}()
	}
	if err := p.waitReady(ctx); err != nil {
		return nil, err
	}
	if cfg.HTTPAddr != "" {
		if err := p.serveHTTP(cfg.HTTPAddr); err != nil {
			return nil, err
		}
	}
	p.log.Info("platform ready", "nats", p.NATSURL(), "http", p.httpAddr, "data", cfg.DataDir)
	return p, nil
}

func (p *Platform) waitReady(ctx context.Context) error {
	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		evReady := false
		select {
		case <-p.Evaluator.Ready():
			evReady = true
		default:
		}
		if evReady && p.Predictor.Ready() {
			return nil
		}
		p.mu.Lock()
		errs := errors.Join(p.errs...)
		p.mu.Unlock()
		if errs != nil {
			return fmt.Errorf("platform: start: %w", errs)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("platform: not ready after 2m (predictor ready %v, evaluator ready %v): are the models in %s?",
				p.Predictor.Ready(), evReady, p.cfg.ModelsDir)
		case <-tick.C:
		}
	}
}

// Stop shuts the platform down in order: stop accepting HTTP requests, stop
// the services (each drains its consumers and finishes work in flight; the
// table writer flushes), close the NATS connection, then the embedded server.
// It returns the errors the services stopped with. Calling it again only
// returns them.
func (p *Platform) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() { p.stop(ctx) })
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}

func (p *Platform) stop(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if p.Web != nil {
		p.Web.CloseStreams() // open event streams would hold Shutdown until its timeout
	}
	if p.httpSrv != nil {
		_ = p.httpSrv.Shutdown(ctx)
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	if p.Waiter != nil {
		p.Waiter.Close()
	}
	if p.Conn != nil {
		_ = p.Conn.Drain()
		for i := 0; i < 100 && !p.Conn.IsClosed(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		p.Conn.Close()
	}
	if p.Server != nil {
		p.Server.Shutdown()
		p.Server.WaitForShutdown()
	}
}

// openBlobs opens the configured store and places it under the environment's
// prefix.
func openBlobs(ctx context.Context, cfg Config) (blob.Store, error) {
	var base blob.Store
	var err error
	if cfg.OpenBlobs != nil {
		base, err = cfg.OpenBlobs(ctx)
	} else {
		base, err = blob.NewDir(filepath.Join(cfg.DataDir, "blobs"))
	}
	if err != nil {
		return nil, err
	}
	env := cfg.Env
	if env == "" {
		env = "dev"
	}
	if err := proto.ValidToken(env); err != nil {
		return nil, fmt.Errorf("environment %q: %v", env, err)
	}
	return blob.WithPrefix(base, env)
}

// loadSalt reads the patient salt at path, creating a random one on first use.
func loadSalt(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 16 {
		return string(b), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("platform: read patient salt: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("platform: make patient salt: %w", err)
	}
	salt := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(salt), 0o600); err != nil {
		return "", fmt.Errorf("platform: write patient salt: %w", err)
	}
	return salt, nil
}
