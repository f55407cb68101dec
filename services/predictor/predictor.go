// Package predictor runs the champion and challenger models: it consumes routed
// inference requests (inference.request.<arm>), fetches the image from the blob
// store, preprocesses it exactly as the model's metadata says, runs ONNX Runtime
// and publishes one inference result per request and arm
// (inference.result.<arm>).
//
// Models come from a ModelSource (the registry): each arm serves the model its
// alias ("champion", "challenger") points at. When an alias moves, the new
// model is loaded and warmed up beside the old one, then swapped in; requests in
// flight finish on the model they started with, and the old model is closed
// once they are done. Nothing is dropped during a swap.
//
// Every request yields a result: an undecodable or missing image gives a result
// with status "error" and a status code (400, 404), so callers and the
// evaluator never wait for an answer that will not come. Only transient
// failures (blob store unavailable, model not loaded yet, publish failure) are
// retried by redelivery.
package predictor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/model"
	"github.com/healthcare-ai/platform/model/onnxrt"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/xray/preprocess"
)

// ModelRef identifies a model version served by an arm.
type ModelRef struct {
	Name    string // registry model name
	Version string // registry version
	SHA256  string // of the ONNX bytes
}

// ModelSource is what the predictor needs from the model registry.
type ModelSource interface {
	// Resolve returns the model version alias points at and its ONNX bytes.
	Resolve(ctx context.Context, alias string) (ModelRef, []byte, error)
	// Watch calls fn (from one goroutine) each time alias may have moved, until
	// ctx is done. It returns when ctx is done or watching fails.
	Watch(ctx context.Context, alias string, fn func()) error
}

// Config configures the predictor.
type Config struct {
	// Arms served by this process (default: both). The alias of an arm is its
	// name.
	Arms []string
	// Workers is the number of requests processed concurrently per arm
	// (default GOMAXPROCS).
	Workers int
	// IntraOpThreads per inference (default 1: parallelism across requests).
	IntraOpThreads int
	// LoadRetry is the delay between attempts to load a model that is not
	// available yet (default 2s).
	LoadRetry time.Duration
	// AckWait for the request consumers (default 30s).
	AckWait time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Arms:           []string{proto.ArmChampion, proto.ArmChallenger},
		Workers:        runtime.GOMAXPROCS(0),
		IntraOpThreads: 1,
		LoadRetry:      2 * time.Second,
		AckWait:        30 * time.Second,
		Now:            time.Now,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if len(c.Arms) == 0 {
		return errors.New("predictor: arms: at least one arm is required")
	}
	for _, a := range c.Arms {
		if !proto.ValidArm(a) {
			return fmt.Errorf("predictor: arms: %q is not %q or %q", a, proto.ArmChampion, proto.ArmChallenger)
		}
	}
	if c.Workers < 1 || c.Workers > 256 {
		return fmt.Errorf("predictor: workers %d: must be between 1 and 256", c.Workers)
	}
	if c.IntraOpThreads < 1 || c.IntraOpThreads > 64 {
		return fmt.Errorf("predictor: intra_op_threads %d: must be between 1 and 64", c.IntraOpThreads)
	}
	return nil
}

// Deps are the predictor's collaborators. The predictor does not close them.
type Deps struct {
	JS     jetstream.JetStream
	Models ModelSource
	Blobs  blob.Store
	Log    *slog.Logger
	// Metrics registers the predictor's metrics (metrics.go); nil: none.
	Metrics prometheus.Registerer
}

// Service is the predictor.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	arms map[string]*armModel
	met  *metrics
}

// New returns a predictor; Run starts it.
func New(cfg Config, deps Deps) (*Service, error) {
	def := DefaultConfig()
	if cfg.Arms == nil {
		cfg.Arms = def.Arms
	}
	if cfg.Workers == 0 {
		cfg.Workers = def.Workers
	}
	if cfg.IntraOpThreads == 0 {
		cfg.IntraOpThreads = def.IntraOpThreads
	}
	if cfg.LoadRetry == 0 {
		cfg.LoadRetry = def.LoadRetry
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = def.AckWait
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.JS == nil || deps.Models == nil || deps.Blobs == nil {
		return nil, errors.New("predictor: JetStream, model source and blob store are required")
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, deps: deps, log: deps.Log.With("service", "predictor"), arms: map[string]*armModel{}, met: newMetrics(deps.Metrics)}
	for _, a := range cfg.Arms {
		s.arms[a] = &armModel{arm: a}
	}
	return s, nil
}

// Run loads each arm's model, follows alias moves and serves requests until
// ctx is cancelled. In-flight requests finish before Run returns, then the
// models are closed.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 2*len(s.arms))
	for arm, am := range s.arms {
		wg.Add(2)
		go func() {
			defer wg.Done()
			s.follow(ctx, arm, am)
		}()
		go func() {
			defer wg.Done()
			cfg := bus.ConsumerConfig{
				Stream:         proto.StreamInference,
				Durable:        proto.PredictorConsumer(arm),
				FilterSubjects: []string{proto.InferenceRequestSubject(arm)},
				Workers:        s.cfg.Workers,
				AckWait:        s.cfg.AckWait,
			}
			if err := bus.Consume(ctx, s.deps.JS, cfg, s.log.With("arm", arm), s.handle(arm)); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	for _, am := range s.arms {
		am.close()
	}
	close(errc)
	return errors.Join(collect(errc)...)
}

func collect(c <-chan error) []error {
	var out []error
	for err := range c {
		out = append(out, err)
	}
	return out
}

// Ready reports whether every arm has a model loaded.
func (s *Service) Ready() bool {
	for _, am := range s.arms {
		if !am.loaded() {
			return false
		}
	}
	return true
}

// Serving returns the model an arm serves and its metadata.
func (s *Service) Serving(arm string) (ModelRef, model.Metadata, bool) {
	am, ok := s.arms[arm]
	if !ok {
		return ModelRef{}, model.Metadata{}, false
	}
	am.mu.RLock()
	defer am.mu.RUnlock()
	if am.m == nil {
		return ModelRef{}, model.Metadata{}, false
	}
	return am.ref, am.m.Metadata(), true
}

// follow keeps an arm's model in line with its alias: an initial load (retried
// until it works or ctx ends), then a reload on every alias change.
func (s *Service) follow(ctx context.Context, arm string, am *armModel) {
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	go func() {
		for ctx.Err() == nil {
			if err := s.deps.Models.Watch(ctx, arm, notify); err != nil && ctx.Err() == nil {
				s.log.Warn("watch alias failed; retrying", "arm", arm, "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(s.cfg.LoadRetry):
			}
		}
	}()
	notify()
	retry := time.NewTimer(0)
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-retry.C:
		}
		if err := s.load(ctx, arm, am); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("load model failed; retrying", "arm", arm, "err", err, "retry_in", s.cfg.LoadRetry)
			retry.Reset(s.cfg.LoadRetry)
		}
	}
}

// load resolves the arm's alias and swaps the model in if it changed.
func (s *Service) load(ctx context.Context, arm string, am *armModel) error {
	ref, onnx, err := s.deps.Models.Resolve(ctx, arm)
	if err != nil {
		return fmt.Errorf("resolve alias %s: %w", arm, err)
	}
	if cur := am.current(); cur == ref {
		return nil
	}
	m, err := onnxrt.Load(onnx, onnxrt.Options{IntraOpThreads: s.cfg.IntraOpThreads})
	if err != nil {
		return fmt.Errorf("load %s version %s: %w", ref.Name, ref.Version, err)
	}
	spec := SpecOf(m.Metadata())
	if err := spec.Validate(); err != nil {
		m.Close()
		return fmt.Errorf("model %s version %s: preprocessing: %w", ref.Name, ref.Version, err)
	}
	old := am.swap(ref, m, spec)
	s.log.Info("model loaded", "arm", arm, "model", ref.Name, "model_version", ref.Version,
		"warm_up_ms", float64(m.WarmUpLatency().Microseconds())/1000, "replaced", old)
	return nil
}

// SpecOf converts a model's preprocessing metadata to the preprocessing spec.
func SpecOf(md model.Metadata) preprocess.Spec {
	p := md.Preprocess
	return preprocess.Spec{Width: p.Width, Height: p.Height, Channels: p.Channels, Layout: p.Layout,
		Color: p.Color, Resize: p.Resize, Scale: p.Scale, Mean: p.Mean, Std: p.Std}
}

// armModel holds the model an arm serves. Predictions hold the read lock for
// the duration of preprocessing and inference, so a swap waits for them and
// the old model is closed only when no request uses it.
type armModel struct {
	arm  string
	mu   sync.RWMutex
	m    *onnxrt.Model
	ref  ModelRef
	spec preprocess.Spec
}

func (a *armModel) loaded() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.m != nil
}

func (a *armModel) current() ModelRef {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.ref
}

// swap installs m and closes the previous model; it returns the previous ref
// name for logging ("" when none).
func (a *armModel) swap(ref ModelRef, m *onnxrt.Model, spec preprocess.Spec) string {
	a.mu.Lock()
	old, oldRef := a.m, a.ref
	a.m, a.ref, a.spec = m, ref, spec
	a.mu.Unlock()
	if old != nil {
		old.Close()
		return oldRef.Name + "@" + oldRef.Version
	}
	return ""
}

func (a *armModel) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m != nil {
		a.m.Close()
		a.m = nil
	}
}

// errNotLoaded is temporary: the request is redelivered once a model is there.
var errNotLoaded = errors.New("no model loaded yet")
