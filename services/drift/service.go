package drift

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/driftstat"
	"github.com/healthcare-ai/platform/proto"
)

// DefaultExperiment names the experiment of results that carry none (as the
// evaluator does).
const DefaultExperiment = "default"

// Deps are the monitor's collaborators. It closes none of them.
type Deps struct {
	JS         jetstream.JetStream
	References References
	Logger     *slog.Logger
	// Metrics registers the monitor's metrics (metrics.go); nil: none.
	Metrics prometheus.Registerer
}

// Service is the drift monitor.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	met  *metrics

	mu      sync.Mutex
	windows map[key]*window
	refs    map[refKey]refEntry
	// restored are the alerts firing at start (from the ALERTS stream), by
	// window and signal; read-only once Run consumes.
	restored map[key]map[string]time.Time
}

// key identifies a window: one model version serving one arm of an
// experiment.
type key struct {
	experiment, arm, model, version string
}

func (k key) String() string {
	return k.experiment + "/" + k.arm + "/" + k.model + "@" + k.version
}

type refKey struct{ model, version string }

type refEntry struct {
	ref     *driftstat.Reference // nil: none
	err     error
	retryAt time.Time
}

// window is the state of one key.
type window struct {
	w        *driftstat.Window
	results  int                  // since start
	pending  int                  // results since the last evaluation
	firing   map[string]time.Time // signal -> firing since
	last     *proto.DriftReport
	lastEval time.Time
	// ids are the request ids of the results in w, in the same ring order
	// (w drops its oldest as ids does), and held indexes them: a result
	// delivered again (redelivery after a slow ack) is not counted twice.
	ids  []string
	next int
	held map[string]bool
}

// admit reports whether a result is new to the window and, if so, records
// its id (dropping the oldest id when the ring is full, as the window drops
// its oldest result).
func (w *window) admit(id string) bool {
	if w.held[id] {
		return false
	}
	if old := w.ids[w.next]; old != "" {
		delete(w.held, old)
	}
	w.ids[w.next], w.held[id] = id, true
	w.next = (w.next + 1) % len(w.ids)
	return true
}

// New returns a drift monitor; Run starts it.
func New(cfg Config, deps Deps) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.JS == nil || deps.References == nil {
		return nil, errors.New("drift: JetStream and references are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, deps: deps, log: deps.Logger.With("service", "drift"), met: newMetrics(deps.Metrics),
		windows: map[key]*window{}, refs: map[refKey]refEntry{}, restored: map[key]map[string]time.Time{}}, nil
}

// maxRestore bounds the alerts read back at start.
const maxRestore = 100_000

// restore reads the ALERTS stream once and keeps, per window and signal, the
// alerts whose last state is firing: a window created later starts with
// them, so an alert that is still true is not announced again after a
// restart, and one that has cleared gets its "resolved".
func (s *Service) restore(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cons, err := s.deps.JS.OrderedConsumer(ctx, proto.StreamAlerts, jetstream.OrderedConsumerConfig{FilterSubjects: []string{proto.DriftAlertsAll}})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil // no alert was ever published
	}
	if err != nil {
		return fmt.Errorf("drift: read alerts: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("drift: read alerts: %w", err)
	}
	left := min(int(info.NumPending), maxRestore)
	for left > 0 {
		batch, err := cons.Fetch(min(left, 500), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("drift: read alerts: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var a proto.DriftAlert
			if proto.Decode(m.Data(), &a) != nil {
				continue
			}
			k := key{experiment: a.Experiment, arm: a.Arm, model: a.ModelName, version: a.ModelVersion}
			if s.restored[k] == nil {
				s.restored[k] = map[string]time.Time{}
			}
			if a.Status == proto.AlertFiring {
				s.restored[k][a.Signal] = a.FiringSince
			} else {
				delete(s.restored[k], a.Signal)
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("drift: read alerts: %w", err)
		}
		if n == 0 {
			break
		}
		left -= n
	}
	firing := 0
	for _, sigs := range s.restored {
		firing += len(sigs)
	}
	s.log.Info("drift alerts restored", "firing", firing)
	return nil
}

// Run consumes results and evaluates the windows until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	if err := s.restore(ctx); err != nil {
		return err
	}
	tickCtx, stopTicks := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.tick(tickCtx)
	}()
	err := bus.Consume(ctx, s.deps.JS, bus.ConsumerConfig{
		Stream:         proto.StreamInference,
		Durable:        proto.ConsumerDriftResults,
		FilterSubjects: []string{proto.InferenceResultsAll},
		Workers:        1, // the windows are ordered by arrival
		AckWait:        s.cfg.AckWait,
	}, s.log, s.handle)
	stopTicks()
	wg.Wait()
	return err
}

// Close is a no-op: Run stops when its context ends. It exists for the
// service lifecycle convention.
func (s *Service) Close(context.Context) error { return nil }

// tick evaluates, every EvalInterval/2, the windows whose unjudged results
// have waited EvalInterval, and retries publications that failed.
func (s *Service) tick(ctx context.Context) {
	t := time.NewTicker(max(s.cfg.EvalInterval/2, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.cfg.Now()
		s.mu.Lock()
		var due []key
		for k, w := range s.windows {
			if w.pending > 0 && now.Sub(w.lastEval) >= s.cfg.EvalInterval {
				due = append(due, k)
			}
		}
		s.mu.Unlock()
		for _, k := range due {
			s.evaluate(ctx, k)
		}
	}
}

func (s *Service) handle(ctx context.Context, m jetstream.Msg) error {
	var r proto.InferenceResult
	if err := proto.Decode(m.Data(), &r); err != nil {
		return err
	}
	if r.Status != proto.StatusOK || r.ModelName == "" {
		return nil
	}
	exp := r.Experiment
	if exp == "" {
		exp = DefaultExperiment
	}
	if proto.ValidToken(exp) != nil {
		s.log.Warn("result with an experiment name that is not a subject token; skipped", "request_id", r.RequestID, "experiment", exp)
		return nil
	}
	k := key{experiment: exp, arm: r.Arm, model: r.ModelName, version: r.ModelVersion}
	ref, _ := s.reference(ctx, k.model, k.version)
	st := r.InputStats
	if st != nil && (st.Check() != nil || ref != nil && !sameRange(st, ref)) {
		st = nil // invalid, or another preprocessing than the reference's: counts for the positive rate only
	}
	s.mu.Lock()
	w := s.windows[k]
	if w == nil {
		w = &window{w: driftstat.NewWindow(s.cfg.Rule.Window), firing: map[string]time.Time{}, lastEval: s.cfg.Now(),
			ids: make([]string, max(s.cfg.Rule.Window, 1)), held: map[string]bool{}}
		for sig, since := range s.restored[k] {
			w.firing[sig] = since // still firing as far as the ALERTS stream knows
		}
		s.windows[k] = w
	}
	if !w.admit(r.RequestID) {
		s.mu.Unlock()
		return nil // already in the window: a redelivery
	}
	w.w.Add(r.Label == proto.LabelPneumonia, r.Threshold, st)
	w.results++
	w.pending++
	due := w.pending >= s.cfg.EvalEvery
	s.mu.Unlock()
	if due {
		s.evaluate(ctx, k)
	}
	return nil
}

func sameRange(st *proto.InputStats, ref *driftstat.Reference) bool {
	tol := 1e-6 * max(1, ref.Hi-ref.Lo)
	return abs(st.Lo-ref.Lo) <= tol && abs(st.Hi-ref.Hi) <= tol
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// reference returns the cached reference of a model version, fetching it on
// first use (and again ReferenceRetry after a failure).
func (s *Service) reference(ctx context.Context, model, version string) (*driftstat.Reference, error) {
	rk := refKey{model, version}
	s.mu.Lock()
	e, ok := s.refs[rk]
	s.mu.Unlock()
	now := s.cfg.Now()
	if ok && (e.err == nil || now.Before(e.retryAt)) {
		return e.ref, e.err
	}
	fctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	ref, err := s.deps.References.Reference(fctx, model, version)
	e = refEntry{ref: ref, err: err, retryAt: now.Add(s.cfg.ReferenceRetry)}
	switch {
	case err != nil:
		s.log.Warn("read drift reference failed; retrying later", "model", model, "model_version", version, "err", err)
	case ref == nil:
		s.log.Info("model version has no drift reference: drift reports say no_reference", "model", model, "model_version", version)
	default:
		s.log.Info("drift reference loaded", "model", model, "model_version", version, "images", ref.Images)
	}
	s.mu.Lock()
	s.refs[rk] = e
	s.mu.Unlock()
	return ref, err
}

// evaluate judges one window, publishes its report and the alert state
// changes.
func (s *Service) evaluate(ctx context.Context, k key) {
	ref, _ := s.reference(ctx, k.model, k.version)
	s.mu.Lock()
	defer s.mu.Unlock() // one evaluation at a time: alert states change in order
	w := s.windows[k]
	now := s.cfg.Now().UTC()
	ev := driftstat.Evaluate(s.cfg.Rule, ref, w.w)
	rep := &proto.DriftReport{
		ReportID:   fmt.Sprintf("%s.%s.%s.%s.%d", k.experiment, k.arm, k.model, k.version, now.UnixNano()),
		Experiment: k.experiment, Arm: k.arm, ModelName: k.model, ModelVersion: k.version,
		Level: ev.Level, Window: w.w.Len(), InputWindow: w.w.Inputs(), Signals: ev.Signals,
		Results: w.results, EvaluatedAt: now,
	}
	if ref != nil {
		rep.ReferenceImages = ref.Images
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.OpTimeout)
	defer cancel()
	if _, err := bus.Publish(pctx, s.deps.JS, proto.MetricsDriftSubject(k.experiment), rep); err != nil {
		s.log.Warn("publish drift report failed; retrying at the next evaluation", "window", k.String(), "err", err)
		return
	}
	w.pending, w.lastEval, w.last = 0, now, rep
	s.met.report(rep)
	s.alerts(pctx, k, w, ev, rep)
}

// alerts publishes the state changes of the signals of one evaluation. A
// state changes only once its alert is published.
func (s *Service) alerts(ctx context.Context, k key, w *window, ev driftstat.Evaluation, rep *proto.DriftReport) {
	now := rep.EvaluatedAt
	for _, sig := range ev.Signals {
		since, firing := w.firing[sig.Name]
		var status string
		switch {
		case sig.Level == proto.DriftLevelAlert && !firing:
			status, since = proto.AlertFiring, now
		case firing && (sig.Level == proto.DriftLevelOK || sig.Level == proto.DriftLevelWarn):
			status = proto.AlertResolved
		default:
			continue
		}
		a := &proto.DriftAlert{
			AlertID:    fmt.Sprintf("%s.%s.%s.%s.%s.%s.%d", k.experiment, k.arm, k.model, k.version, sig.Name, status, now.UnixNano()),
			Experiment: k.experiment, Arm: k.arm, ModelName: k.model, ModelVersion: k.version,
			Signal: sig.Name, Status: status, Value: sig.Value, Threshold: sig.Alert, Window: sig.N,
			Reason: reason(sig, status), FiringSince: since, At: now,
		}
		if _, err := bus.Publish(ctx, s.deps.JS, proto.DriftAlertSubject(k.experiment), a); err != nil {
			s.log.Warn("publish drift alert failed; retrying at the next evaluation", "window", k.String(), "signal", sig.Name, "err", err)
			w.pending = max(w.pending, 1) // evaluate again at the next tick
			continue
		}
		s.met.alert(a)
		if status == proto.AlertFiring {
			w.firing[sig.Name] = since
			s.log.Warn("drift alert firing", "window", k.String(), "signal", sig.Name, "value", sig.Value, "threshold", sig.Alert)
		} else {
			delete(w.firing, sig.Name)
			s.log.Info("drift alert resolved", "window", k.String(), "signal", sig.Name, "value", sig.Value)
		}
	}
}

func reason(sig proto.DriftSignal, status string) string {
	var what string
	switch sig.Name {
	case proto.SignalInputPSI:
		what = fmt.Sprintf("input histogram PSI %.3f (alert above %.3g)", sig.Value, sig.Alert)
	case proto.SignalInputMeanKS:
		p := 1.0
		if sig.PValue != nil {
			p = *sig.PValue
		}
		what = fmt.Sprintf("input mean KS D %.3f, p %.2g (alert below p %.3g)", sig.Value, p, sig.Alert)
	case proto.SignalPositiveRate:
		what = fmt.Sprintf("positive rate %.3f against %.3f in training (alert beyond ±%.3f)", sig.Value, sig.Reference, sig.Alert)
	default:
		what = fmt.Sprintf("%s %.4g", sig.Name, sig.Value)
	}
	return fmt.Sprintf("%s on %d results: %s", status, sig.N, what)
}

// Reports returns the latest report of every window, ordered by experiment,
// arm, model and version.
func (s *Service) Reports() []proto.DriftReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []proto.DriftReport
	for _, w := range s.windows {
		if w.last != nil {
			out = append(out, *w.last)
		}
	}
	slices.SortFunc(out, func(a, b proto.DriftReport) int {
		return strings.Compare(a.Experiment+"/"+a.Arm+"/"+a.ModelName+"@"+a.ModelVersion,
			b.Experiment+"/"+b.Arm+"/"+b.ModelName+"@"+b.ModelVersion)
	})
	return out
}
