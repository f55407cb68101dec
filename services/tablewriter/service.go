package tablewriter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/proto"
)

// Deps are the table writer's collaborators; the caller owns and closes them.
type Deps struct {
	// JS reads the event streams (required).
	JS jetstream.JetStream
	// Store holds the tables (required): a local folder or S3.
	Store blob.Store
	// Logger receives the service's logs (default: discarded).
	Logger *slog.Logger
	// Metrics registers the writer's metrics (metrics.go); nil: none.
	Metrics prometheus.Registerer
}

// runner is a writer of any row type.
type runner interface {
	run(ctx context.Context) error
	snapshot() TableStats
}

// Service writes the lakehouse tables. Run it once.
type Service struct {
	cfg     Config
	writers []runner

	mu      sync.Mutex
	started bool
}

// New fills the zero fields of cfg from DefaultConfig, checks it and returns
// the service.
func New(cfg Config, deps Deps) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.JS == nil || deps.Store == nil {
		return nil, errors.New("tablewriter: deps.JS and deps.Store are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("service", "tablewriter")
	met := newMetrics(deps.Metrics)
	want := map[string]bool{}
	for _, name := range cfg.Tables {
		t, _ := proto.LookupTable(name) // checked by Validate
		want[t.Name] = true
	}
	s := &Service{cfg: cfg}
	add := func(t proto.Table, r runner) {
		if len(want) == 0 || want[t.Name] {
			met.table(t.Name)
			s.writers = append(s.writers, r)
		}
	}
	add(proto.TableXRayImages, newWriter(xrayImages(), cfg, deps, log, met))
	add(proto.TableInferenceLog, newWriter(inferenceLog(), cfg, deps, log, met))
	add(proto.TablePredictionFeedback, newWriter(predictionFeedback(), cfg, deps, log, met))
	add(proto.TableModelPerformance, newWriter(modelPerformance(), cfg, deps, log, met))
	add(proto.TableExperimentDecisions, newWriter(experimentDecisions(), cfg, deps, log, met))
	return s, nil
}

func newWriter[T any](src source[T], cfg Config, deps Deps, log *slog.Logger, met *metrics) *writer[T] {
	return &writer[T]{
		src:     src,
		cfg:     cfg,
		js:      deps.JS,
		store:   deps.Store,
		log:     log.With("table", src.table.Name),
		durable: proto.TableConsumer(src.table),
		stats:   TableStats{Table: src.table.Name},
		met:     met,
	}
}

// Run writes every configured table until ctx is cancelled, then flushes the
// buffered rows and returns nil. It returns an error if a writer cannot start
// (for example its consumer cannot be created).
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("tablewriter: Run called twice (a Service runs once)")
	}
	s.started = true
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(s.writers))
	var wg sync.WaitGroup
	for _, w := range s.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.run(ctx); err != nil {
				errs <- fmt.Errorf("tablewriter: %w", err)
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

func collect(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

// Stats returns the counters of every table writer.
func (s *Service) Stats() []TableStats {
	out := make([]TableStats, len(s.writers))
	for i, w := range s.writers {
		out[i] = w.snapshot()
	}
	return out
}
