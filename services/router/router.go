// Package router assigns every ingested image to the champion or challenger
// model of an experiment and publishes the inference requests.
//
// It consumes proto.SubjectImageIngested (durable consumer
// proto.ConsumerRouter on proto.StreamXRay) and publishes proto.InferenceRequest
// on proto.InferenceRequestSubject(arm). The experiment (mode and split) lives
// in the KV bucket proto.BucketExperiments under its name; the router creates
// it with DefaultConfig's 50/50 split if it is absent (never overwriting an
// existing one) and watches the key, so SetSplit and SetMode take effect live.
// Every request carries the experiment's epoch (proto.Experiment.Epoch), which
// SetSplit, SetMode and StartEpoch advance, so that the evaluator can count
// each configuration apart.
//
// Assignment is deterministic: a request goes to the champion when the bucket
// (0..99) of its patient key, or of its request id when it has none, is below
// the champion weight (see Arm). In shadow mode every request goes to both
// arms, and only the champion's answer is served.
//
// Delivery: a message is acknowledged after every request it produces has
// been published and acknowledged by JetStream (each with a Nats-Msg-Id of
// request id and arm, so a redelivery publishes no duplicates). Publish
// failures are retried; an undecodable event is dead-lettered.
package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/trace"
)

// Log attribute keys.
const (
	attrRequestID  = "request_id"
	attrExperiment = "experiment"
	attrArm        = "arm"
	attrTraceID    = "trace_id"
)

// Config configures the router.
type Config struct {
	// Experiment is the experiment the router applies.
	Experiment string
	// DefaultSplit and DefaultMode are used only when the experiment does not
	// exist yet and the router creates it.
	DefaultSplit proto.Split
	DefaultMode  string
	// Workers is the number of messages routed concurrently.
	Workers int
	// MaxDeliver bounds delivery attempts before a message is dead-lettered.
	MaxDeliver int
	// RetryDelay is the first delay before a failed message is retried.
	RetryDelay time.Duration
	// PublishTimeout bounds one publish.
	PublishTimeout time.Duration
	// Replicas of the experiments bucket when the router creates it.
	Replicas int
	// StartTimeout bounds reading the experiment at startup.
	StartTimeout time.Duration
}

// DefaultConfig returns the router's defaults: experiment "pneumonia", 50/50
// split mode.
func DefaultConfig() Config {
	return Config{
		Experiment:     "pneumonia",
		DefaultSplit:   proto.Split{Champion: 50, Challenger: 50},
		DefaultMode:    proto.ModeSplit,
		Workers:        4,
		MaxDeliver:     10,
		RetryDelay:     time.Second,
		PublishTimeout: 10 * time.Second,
		Replicas:       1,
		StartTimeout:   30 * time.Second,
	}
}

// Validate checks the configuration and names every bad field.
func (c Config) Validate() error {
	var errs []error
	if err := proto.ValidToken(c.Experiment); err != nil {
		errs = append(errs, fmt.Errorf("experiment %q: %v", c.Experiment, err))
	}
	if def := c.defaultExperiment(); proto.ValidToken(c.Experiment) == nil {
		if err := def.Check(); err != nil {
			errs = append(errs, fmt.Errorf("default experiment: %w", err))
		}
	}
	if c.Workers < 1 || c.Workers > 1024 {
		errs = append(errs, fmt.Errorf("workers %d: must be between 1 and 1024", c.Workers))
	}
	if c.MaxDeliver < 1 {
		errs = append(errs, fmt.Errorf("max_deliver %d: must be at least 1", c.MaxDeliver))
	}
	if c.RetryDelay <= 0 {
		errs = append(errs, fmt.Errorf("retry_delay %s: must be positive", c.RetryDelay))
	}
	if c.PublishTimeout <= 0 {
		errs = append(errs, fmt.Errorf("publish_timeout %s: must be positive", c.PublishTimeout))
	}
	if c.StartTimeout <= 0 {
		errs = append(errs, fmt.Errorf("start_timeout %s: must be positive", c.StartTimeout))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d: must be between 1 and 5", c.Replicas))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("router config: %w", err)
	}
	return nil
}

func (c Config) defaultExperiment() proto.Experiment {
	return proto.Experiment{
		SchemaVersion: proto.SchemaVersion,
		Name:          c.Experiment,
		Mode:          c.DefaultMode,
		Split:         c.DefaultSplit,
		UpdatedBy:     "router",
		Reason:        "created with the router's default split",
	}
}

// Deps are the router's dependencies.
type Deps struct {
	// JS is the JetStream context (required). The caller owns its connection.
	JS jetstream.JetStream
	// Logger; default discards.
	Logger *slog.Logger
	// Now stamps routed_at; default time.Now.
	Now func() time.Time
	// Metrics registers the router's metrics (metrics.go); nil: none.
	Metrics prometheus.Registerer
}

// Service is the router.
type Service struct {
	cfg Config
	js  jetstream.JetStream
	log *slog.Logger
	now func() time.Time
	exp atomic.Pointer[proto.Experiment]
	met *metrics
}

// New checks cfg and returns a router; Run starts it.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.JS == nil {
		return nil, errors.New("new router: JetStream is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Service{
		cfg: cfg,
		js:  deps.JS,
		log: deps.Logger.With(attrExperiment, cfg.Experiment),
		now: deps.Now,
		met: newMetrics(deps.Metrics),
	}, nil
}

// Experiment returns the experiment configuration the router applies now, and
// false before Run has loaded it.
func (s *Service) Experiment() (proto.Experiment, bool) {
	p := s.exp.Load()
	if p == nil {
		return proto.Experiment{}, false
	}
	return *p, true
}

// Run loads the experiment (creating it if absent), watches it and routes
// ingested images until ctx is cancelled; then it finishes the messages in
// flight and returns nil. It returns an error if it cannot start or if
// consuming fails.
func (s *Service) Run(ctx context.Context) error {
	startCtx, cancelStart := context.WithTimeout(ctx, s.cfg.StartTimeout)
	defer cancelStart()
	kv, err := OpenExperiments(startCtx, s.js, s.cfg.Replicas)
	if err != nil {
		return startErr(ctx, err)
	}
	exp, created, err := EnsureExperiment(startCtx, kv, s.cfg.defaultExperiment())
	if err != nil {
		return startErr(ctx, err)
	}
	if created {
		s.log.Info("experiment created", "mode", exp.Mode, "split", exp.Split.String())
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w, err := kv.Watch(watchCtx, s.cfg.Experiment)
	if err != nil {
		return startErr(ctx, fmt.Errorf("watch experiment %s: %w", s.cfg.Experiment, err))
	}
	if err := s.loadInitial(startCtx, w); err != nil {
		_ = w.Stop()
		return startErr(ctx, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.watch(watchCtx, w) })
	defer wg.Wait()
	defer stopWatch()

	cur, _ := s.Experiment()
	s.log.Info("router started", "mode", cur.Mode, "split", cur.Split.String(), "epoch", cur.Epoch, "workers", s.cfg.Workers)
	err = bus.Consume(ctx, s.js, bus.ConsumerConfig{
		Stream:         proto.StreamXRay,
		Durable:        proto.ConsumerRouter,
		FilterSubjects: []string{proto.SubjectImageIngested},
		Workers:        s.cfg.Workers,
		MaxDeliver:     s.cfg.MaxDeliver,
		RetryDelay:     s.cfg.RetryDelay,
	}, s.log, s.handle)
	if err != nil && !stopping(ctx, err) {
		return fmt.Errorf("router: %w", err)
	}
	s.log.Info("router stopped")
	return nil
}

// stopping reports whether err is only the consequence of ctx being
// cancelled: a requested stop, not a failure.
func stopping(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Canceled)
}

// startErr wraps a startup error, or returns nil if the router was stopped
// while starting.
func startErr(ctx context.Context, err error) error {
	if stopping(ctx, err) {
		return nil
	}
	return fmt.Errorf("start router: %w", err)
}

// loadInitial applies the watcher's initial value of the experiment key.
func (s *Service) loadInitial(ctx context.Context, w jetstream.KeyWatcher) error {
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("read experiment %s: %w", s.cfg.Experiment, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("read experiment %s: watcher closed", s.cfg.Experiment)
			}
			if e == nil {
				if s.exp.Load() == nil {
					return fmt.Errorf("experiment %s: %w (deleted while starting?)", s.cfg.Experiment, ErrExperimentNotFound)
				}
				return nil
			}
			s.apply(e)
		}
	}
}

// watch applies every later change of the experiment until the watcher ends.
func (s *Service) watch(ctx context.Context, w jetstream.KeyWatcher) {
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() == nil {
					s.log.Error("experiment watch ended; keeping the last configuration")
				}
				return
			}
			if e != nil {
				s.apply(e)
			}
		}
	}
}

// apply installs a new experiment value; an invalid or deleted one is logged
// and the previous configuration stays in force.
func (s *Service) apply(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		s.log.Error("experiment deleted; keeping the last configuration", "revision", e.Revision())
		return
	}
	exp, err := decodeExperiment(s.cfg.Experiment, e.Value())
	if err != nil {
		s.log.Error("invalid experiment update ignored; keeping the last configuration", "revision", e.Revision(), "err", err)
		return
	}
	prev := s.exp.Swap(&exp)
	if prev == nil || prev.Mode != exp.Mode || prev.Split != exp.Split || prev.Epoch != exp.Epoch {
		s.log.Info("experiment applied", "mode", exp.Mode, "split", exp.Split.String(), "epoch", exp.Epoch,
			"updated_by", exp.UpdatedBy, "reason", exp.Reason, "revision", e.Revision())
	}
}

func (s *Service) handle(ctx context.Context, msg jetstream.Msg) error {
	var ev proto.ImageIngested
	if err := proto.Decode(msg.Data(), &ev); err != nil {
		return err // proto.ErrSchema: permanent, dead-lettered
	}
	_, err := s.Route(trace.NewContext(ctx, bus.TraceOf(msg.Headers(), ev.RequestID)), &ev)
	return err
}

// Route publishes the inference requests for one ingested image under the
// current experiment and returns them. Errors are temporary (retry). Each
// request carries a child of the traceparent in ctx (trace.NewContext; the
// one derived from the request id when ctx has none): same trace id, a new
// span id per request.
func (s *Service) Route(ctx context.Context, ev *proto.ImageIngested) ([]proto.InferenceRequest, error) {
	exp, ok := s.Experiment()
	if !ok {
		return nil, fmt.Errorf("route request_id=%s: experiment %s not loaded (router not running)", ev.RequestID, s.cfg.Experiment)
	}
	reqs := Requests(exp, ev, s.now().UTC())
	parent, ok := trace.FromContext(ctx)
	if !ok {
		parent = trace.FromRequestID(ev.RequestID)
	}
	for i := range reqs {
		r := &reqs[i]
		pctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
		ack, err := bus.PublishWith(pctx, s.js, proto.InferenceRequestSubject(r.Arm), r, bus.TraceHeader(parent.Child()))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("route to %s: %w", r.Arm, err)
		}
		s.met.routedRequest(r, ack.Duplicate)
		s.log.Debug("request routed", attrRequestID, r.RequestID, attrTraceID, parent.TraceID.String(), attrArm, r.Arm, "served", r.Served, "mode", r.Mode, "epoch", r.Epoch)
	}
	return reqs, nil
}
