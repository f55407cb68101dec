package evaluator

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
)

// Deps are the evaluator's collaborators. The caller owns them and closes them
// after Run has returned.
type Deps struct {
	// JS consumes results and feedback, stores the join state and publishes
	// metrics (required).
	JS jetstream.JetStream
	// Logger receives the service's logs (default: discarded).
	Logger *slog.Logger
	// Metrics registers the evaluator's metrics (metrics.go); nil: none.
	Metrics prometheus.Registerer
	// Auth, when set, makes the HTTP listener that Run starts
	// (Config.HTTPAddr) require bearer tokens of users holding the role
	// viewer (package auth); nil serves it without authentication. The
	// platform mounts Handler itself, with its own rules.
	Auth *auth.Users
}

// Service is the evaluator. Run it once; Handler and Snapshot serve the
// numbers once Run has loaded the stored state (Ready).
type Service struct {
	cfg     Config
	js      jetstream.JetStream
	log     *slog.Logger
	agg     *aggregates
	review  *reviewIndex
	handler http.Handler
	kv      jetstream.KeyValue // set by Run before ready is closed
	ready   chan struct{}
	met     *metrics
	users   *auth.Users

	keyLocks [256]sync.Mutex // serialize updates of one key (by hash)
	lockSeed maphash.Seed
	unsureMu sync.Mutex
	unsure   map[string]unsureWrite // writes with unknown outcome, by key

	snapMu  sync.Mutex
	snapSeq int64
	badName map[string]bool // experiments whose names cannot be subjects (publisher only)

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
	addr    net.Addr
}

// New fills the zero fields of cfg from DefaultConfig (an empty HTTPAddr stays
// empty: no listener), checks it and returns an evaluator.
func New(cfg Config, deps Deps) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.JS == nil {
		return nil, errors.New("evaluator: deps.JS is required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg:     cfg,
		js:      deps.JS,
		log:     log.With("service", "evaluator"),
		agg:     newAggregates(),
		review:  newReviewIndex(cfg.ReviewQueueMax),
		ready:   make(chan struct{}),
		badName: map[string]bool{},
		done:    make(chan struct{}),
		unsure:  map[string]unsureWrite{},
	}
	s.agg.review = s.review
	s.lockSeed = maphash.MakeSeed()
	s.met = newMetrics(deps.Metrics, s)
	s.users = deps.Auth
	s.handler = s.routes()
	return s, nil
}

// Ready is closed once Run has loaded the stored state and serves numbers.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Addr is the address of the HTTP listener started by Run (nil before it
// listens or when Config.HTTPAddr is empty).
func (s *Service) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run opens the state bucket, rebuilds the aggregates from it, then consumes
// results and feedback, publishes metrics and serves HTTP until ctx is
// cancelled or a component fails. On the way out it stops fetching, lets
// in-flight messages finish and settle, publishes the last numbers and returns
// nil after a clean shutdown. A Service runs once.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("evaluator: Run called twice (a Service runs once)")
	}
	s.started, s.cancel = true, cancel
	s.mu.Unlock()
	defer close(s.done)

	var srv *http.Server
	var httpDone sync.WaitGroup
	errs := make(chan error, 4)
	if s.cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("evaluator: listen %s: %w", s.cfg.HTTPAddr, err)
		}
		s.mu.Lock()
		s.addr = ln.Addr()
		s.mu.Unlock()
		srv = &http.Server{
			Handler:           auth.Require(s.users, auth.RoleViewer, s.handler),
			ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
		s.log.Info("http listening", "addr", ln.Addr().String())
		httpDone.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("evaluator: serve http: %w", err)
				cancel()
			}
		})
		defer func() {
			sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
			defer scancel()
			_ = srv.Shutdown(sctx)
			httpDone.Wait()
		}()
	}

	kv, err := s.openBucket(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("evaluator: %w", err)
	}
	s.kv = kv
	start := time.Now()
	n, err := s.rebuild(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("evaluator: %w", err)
	}
	s.met.loaded(n)
	close(s.ready)
	s.log.Info("state loaded", "requests", n, "experiments", len(s.agg.names()), "duration", time.Since(start).String())

	var consumers, publisher sync.WaitGroup
	consume := func(cc bus.ConsumerConfig, h bus.Handler) {
		consumers.Go(func() {
			// An error after cancellation (e.g. a consumer creation cut short
			// by a quick stop) is part of shutting down, not a failure.
			if err := bus.Consume(ctx, s.js, cc, s.log, h); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("evaluator: %w", err)
			}
			cancel() // one consumer stopping stops the service
		})
	}
	consume(bus.ConsumerConfig{
		Stream: proto.StreamInference, Durable: proto.ConsumerEvaluatorResults,
		FilterSubjects: []string{proto.InferenceResultsAll},
		Workers:        s.cfg.Workers, AckWait: s.cfg.AckWait, MaxDeliver: s.cfg.MaxDeliver,
	}, s.handleResult)
	consume(bus.ConsumerConfig{
		Stream: proto.StreamFeedback, Durable: proto.ConsumerEvaluatorFeedback,
		FilterSubjects: []string{proto.SubjectFeedbackRecorded},
		Workers:        s.cfg.Workers, AckWait: s.cfg.AckWait, MaxDeliver: s.cfg.MaxDeliver,
	}, s.handleFeedback)
	publisher.Go(func() { s.publishLoop(ctx) })

	<-ctx.Done()
	consumers.Wait()
	publisher.Wait()
	// The last numbers, under a fresh deadline: the consumers are drained.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	if err := s.publishDirty(fctx); err != nil {
		s.log.Warn("final metrics publication", logErr, err)
	}
	fcancel()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	s.log.Info("stopped")
	return errors.Join(all...)
}

// Close stops a running Run and waits for it to return or for ctx to end.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	cancel, started := s.cancel, s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("evaluator: close: %w", ctx.Err())
	}
}

// handleResult joins one inference result.
func (s *Service) handleResult(ctx context.Context, m jetstream.Msg) error {
	var r proto.InferenceResult
	if err := proto.Decode(m.Data(), &r); err != nil {
		return err // proto.ErrSchema: poison, dead-lettered by bus
	}
	changed, err := s.update(ctx, r.RequestID, func(st *RequestState) (bool, error) {
		return mergeResult(st, &r), nil
	})
	if err != nil {
		return fmt.Errorf("join result request_id=%s arm=%s: %w", r.RequestID, r.Arm, err)
	}
	s.met.processedEvent(eventResult)
	s.log.DebugContext(ctx, "result joined", logRequestID, r.RequestID, logTraceID, bus.TraceOf(m.Headers(), r.RequestID).TraceID.String(), logArm, r.Arm, logModel, r.ModelName,
		logModelVersion, r.ModelVersion, "status", r.Status, "changed", changed)
	return nil
}

// handleFeedback joins one recorded feedback.
func (s *Service) handleFeedback(ctx context.Context, m jetstream.Msg) error {
	var f proto.FeedbackRecorded
	if err := proto.Decode(m.Data(), &f); err != nil {
		return err
	}
	changed, err := s.update(ctx, f.RequestID, func(st *RequestState) (bool, error) {
		return mergeFeedback(st, &f, s.cfg.MaxFeedbackPerRequest)
	})
	if err != nil {
		return fmt.Errorf("join feedback %s request_id=%s: %w", f.FeedbackID, f.RequestID, err)
	}
	s.met.processedEvent(eventFeedback)
	s.log.DebugContext(ctx, "feedback joined", logRequestID, f.RequestID, logTraceID, bus.TraceOf(m.Headers(), f.RequestID).TraceID.String(), logFeedbackID, f.FeedbackID,
		logGroundTruth, f.GroundTruth, "changed", changed)
	return nil
}

// Snapshot returns the current metrics of one experiment (zero counts when it
// is unknown or before Ready).
func (s *Service) Snapshot(experiment string) proto.MetricsSnapshot {
	snap, _ := s.agg.snapshot(experiment)
	s.stamp(&snap)
	return snap
}

// Overview is the body of GET /v1/metrics.
type Overview struct {
	Policy Policy `json:"policy"`
	// PendingFeedback counts requests with feedback but no result yet.
	PendingFeedback int `json:"pending_feedback"`
	// AdjudicationUnattributed counts requests awaiting adjudication that have
	// no result yet (so no experiment).
	AdjudicationUnattributed int                     `json:"adjudication_unattributed"`
	Experiments              []proto.MetricsSnapshot `json:"experiments"`
	GeneratedAt              time.Time               `json:"generated_at"`
}

// Overview returns the metrics of every experiment, sorted by name.
func (s *Service) Overview() Overview {
	o := Overview{Policy: s.cfg.Policy, Experiments: []proto.MetricsSnapshot{}, GeneratedAt: s.cfg.Now().UTC()}
	o.PendingFeedback, o.AdjudicationUnattributed = s.agg.totals()
	for _, name := range s.agg.names() {
		o.Experiments = append(o.Experiments, s.Snapshot(name))
	}
	return o
}

// stamp sets the generation time and a snapshot id unique across restarts:
// "<experiment>-<n>" with n the generation time in Unix nanoseconds, made
// strictly increasing.
func (s *Service) stamp(snap *proto.MetricsSnapshot) {
	now := s.cfg.Now().UTC()
	s.snapMu.Lock()
	s.snapSeq = max(s.snapSeq+1, time.Now().UnixNano())
	seq := s.snapSeq
	s.snapMu.Unlock()
	snap.GeneratedAt = now
	snap.SnapshotID = snap.Experiment + "-" + strconv.FormatInt(seq, 10)
}
