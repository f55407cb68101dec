package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/decision"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/registry"
	"github.com/healthcare-ai/platform/services/router"
)

// Deps are the controller's collaborators; the caller owns them.
type Deps struct {
	// JS reads metrics, the experiment and the state, publishes decisions.
	JS jetstream.JetStream
	// Registry moves the aliases when a challenger is promoted.
	Registry *registry.Registry
	// Logger receives the logs (default: discarded).
	Logger *slog.Logger
	// Metrics registers the controller's metrics (metrics.go); nil: none.
	Metrics prometheus.Registerer
}

// Service is the rollout controller of one experiment. Run it once.
type Service struct {
	cfg     Config
	js      jetstream.JetStream
	reg     *registry.Registry
	log     *slog.Logger
	handler http.Handler
	met     *metrics

	ready chan struct{}
	expKV jetstream.KeyValue // set before ready is closed
	kv    jetstream.KeyValue

	mu      sync.Mutex // serializes looks, approvals and rejections
	started bool
}

// New checks cfg (zero fields take DefaultConfig's values) and returns the
// controller.
func New(cfg Config, deps Deps) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.JS == nil || deps.Registry == nil {
		return nil, errors.New("rollout: deps.JS and deps.Registry are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, js: deps.JS, reg: deps.Registry, log: log.With("service", "rollout", "experiment", cfg.Experiment), ready: make(chan struct{}), met: newMetrics(deps.Metrics)}
	s.handler = s.routes()
	return s, nil
}

// Ready is closed once Run has opened its buckets.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Run follows the experiment's metrics snapshots and decides at each one
// until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("rollout: Run called twice (a Service runs once)")
	}
	s.started = true
	s.mu.Unlock()
	var err error
	if s.expKV, err = router.OpenExperiments(ctx, s.js, 1); err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	if s.kv, err = openState(ctx, s.js); err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	close(s.ready)
	// The latest snapshot first, then every new one.
	cons, err := s.js.OrderedConsumer(ctx, proto.StreamMetrics, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{proto.MetricsExperimentSubject(s.cfg.Experiment)},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return fmt.Errorf("rollout: follow metrics: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("rollout: follow metrics: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	s.log.Info("rollout controller started", "mode", s.cfg.Mode, "stages", s.cfg.Stages)
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("rollout: follow metrics: %w", err)
		}
		var snap proto.MetricsSnapshot
		if err := proto.Decode(m.Data(), &snap); err != nil {
			s.log.Error("invalid metrics snapshot ignored", "err", err)
			continue
		}
		if err := s.Look(ctx, snap); err != nil {
			// The next snapshot is another look; a failed one is not lost
			// evidence (the counts are cumulative).
			s.log.Warn("look failed; the next snapshot will be looked at", "err", err)
		}
	}
}

// Look makes one decision from a metrics snapshot and acts on it.
func (s *Service) Look(ctx context.Context, snap proto.MetricsSnapshot) error {
	<-s.ready
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 4*s.cfg.OpTimeout)
	defer cancel()
	exp, _, err := router.GetExperiment(ctx, s.expKV, s.cfg.Experiment)
	if err != nil {
		return err
	}
	s.met.observe(exp)
	st, rev, err := loadState(ctx, s.kv, s.cfg.Experiment)
	if err != nil {
		return err
	}
	if exp.Split.Challenger == 0 && exp.Mode != proto.ModeShadow {
		return nil // nothing under test
	}
	if st.Epoch != exp.Epoch {
		st = State{Experiment: exp.Name, Epoch: exp.Epoch, History: st.History, RejectedEpoch: st.RejectedEpoch, Pending: nil}
	}
	em, ok := epochMetrics(snap, exp.Epoch)
	if !ok {
		return nil // no result of this epoch yet
	}
	d, err := s.decide(exp, st.Decision, em)
	if errors.Is(err, decision.ErrStateMismatch) {
		// Counts went down (a verdict was withdrawn for adjudication): start
		// the sequential test again on this epoch's data.
		s.log.Warn("restarting the sequential test", "err", err)
		d, err = s.decide(exp, decision.State{}, em)
	}
	if err != nil {
		return fmt.Errorf("decide: %w", err)
	}
	st.Decision, st.Last = d.State, &d
	st.Looks++
	now := s.cfg.Now().UTC()
	ev := s.event(exp, st, d, now)
	publish := false
	switch d.Action {
	case decision.Rollback:
		after, err := s.rollback(ctx, exp, d.Reason)
		if err != nil {
			return err
		}
		ev.Outcome, ev.SplitAfter, ev.StageAfter = proto.OutcomeExecuted, after.Split, after.Stage
		st.record(change(exp, after, ev, ""))
		st.Pending = nil
		publish = true
	case decision.Promote:
		switch {
		case st.RejectedEpoch == exp.Epoch && exp.Epoch != 0:
			ev.Outcome = proto.OutcomeNone
			ev.Reason = "promotion already rejected for this stage; " + ev.Reason
			publish = st.LastAction != string(d.Action)
		case s.cfg.Mode == proto.RolloutAutomatic:
			after, promoted, archived, err := s.advance(ctx, exp, s.cfg.Actor, d.Reason)
			if err != nil {
				return err
			}
			ev.Outcome, ev.SplitAfter, ev.StageAfter = proto.OutcomeExecuted, after.Split, after.Stage
			st.record(change(exp, after, ev, promoted, archived))
			publish = true
		case st.Pending == nil:
			next := min(exp.Stage+1, len(s.cfg.Stages)-1)
			st.Pending = &Pending{DecisionID: ev.DecisionID, Action: proto.ActionPromote, Epoch: exp.Epoch,
				StageFrom: exp.Stage, StageTo: next, SplitFrom: exp.Split, SplitTo: s.cfg.StageSplit(next),
				Reason: d.Reason, RecommendedAt: now}
			ev.Outcome, ev.SplitAfter, ev.StageAfter = proto.OutcomeRecommended, st.Pending.SplitTo, next
			publish = true
		}
	default:
		publish = st.LastAction != string(d.Action) || now.Sub(st.LastPublished) >= s.cfg.KeepTestingEvery
		if publish {
			st.LastPublished = now
		}
	}
	st.LastAction = string(d.Action)
	if publish {
		if err := s.publish(ctx, ev); err != nil {
			return err
		}
	}
	if _, err := saveState(ctx, s.kv, st, rev); err != nil {
		return err
	}
	if d.Action != decision.KeepTesting {
		s.log.Info("decision", "action", d.Action, "outcome", ev.Outcome, "epoch", exp.Epoch, "p_value", d.PValue, "reason", d.Reason)
	}
	return nil
}

// decide runs the engine on one epoch's counts: the paired test in shadow
// mode, the two-arm test otherwise.
func (s *Service) decide(exp proto.Experiment, prev decision.State, em proto.EpochMetrics) (decision.Decision, error) {
	if exp.Mode == proto.ModeShadow {
		return decision.DecidePaired(s.cfg.Decision, prev, pairedInput(em))
	}
	var in decision.Input
	for _, m := range em.Models {
		arm := decision.Arm{Served: m.Predictions, Confusion: decision.Confusion{TP: m.Confusion.TP, FP: m.Confusion.FP, TN: m.Confusion.TN, FN: m.Confusion.FN}}
		switch m.Arm {
		case proto.ArmChampion:
			in.Champion = arm
		case proto.ArmChallenger:
			in.Challenger = arm
		}
	}
	return decision.Decide(s.cfg.Decision, prev, in)
}

func epochMetrics(snap proto.MetricsSnapshot, epoch int) (proto.EpochMetrics, bool) {
	for _, e := range snap.Epochs {
		if e.Epoch == epoch {
			return e, true
		}
	}
	return proto.EpochMetrics{}, false
}

func pairedInput(em proto.EpochMetrics) decision.PairedInput {
	conv := func(p proto.PairedCounts) decision.PairedCounts {
		return decision.PairedCounts{BothCorrect: p.BothCorrect, OnlyChampion: p.OnlyChampion, OnlyChallenger: p.OnlyChallenger, BothWrong: p.BothWrong}
	}
	in := decision.PairedInput{Positives: conv(em.PairedPositives), Negatives: conv(em.PairedNegatives)}
	for _, m := range em.Models {
		if m.Arm == proto.ArmChampion {
			in.Served = m.Predictions
		}
	}
	return in
}

// event builds the audit event of a decision (outcome and split after are
// filled in by the caller).
func (s *Service) event(exp proto.Experiment, st State, d decision.Decision, now time.Time) proto.DecisionEvent {
	details, _ := json.Marshal(d)
	ev := proto.DecisionEvent{
		DecisionID:  exp.Name + ":" + strconv.Itoa(exp.Epoch) + ":" + strconv.Itoa(st.Looks),
		Experiment:  exp.Name,
		Epoch:       exp.Epoch,
		Action:      string(d.Action),
		Outcome:     proto.OutcomeNone,
		RolloutMode: s.cfg.Mode,
		Actor:       s.cfg.Actor,
		Reason:      d.Reason,
		StageBefore: exp.Stage, StageAfter: exp.Stage,
		SplitBefore: exp.Split, SplitAfter: exp.Split,
		Test: d.Test, Metric: string(d.Metric), Statistic: d.Statistic, PValue: d.PValue,
		Difference:      proto.Interval(d.Difference),
		SensitivityDiff: proto.Interval(d.SensitivityDifference),
		ChampionN:       d.Champion.Labelled, ChallengerN: d.Challenger.Labelled,
		SamplesNeeded: d.EstimatedSamplesNeeded,
		Details:       details,
		DecidedAt:     now,
	}
	ev.Champion, ev.Challenger = s.models(context.Background())
	return ev
}

// models names what the aliases point at, for the audit log.
func (s *Service) models(ctx context.Context) (champion, challenger string) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	if mv, err := s.reg.Resolve(ctx, proto.ArmChampion); err == nil {
		champion = mv.String()
	}
	if mv, err := s.reg.Resolve(ctx, proto.ArmChallenger); err == nil {
		challenger = mv.String()
	}
	return champion, challenger
}

func change(before, after proto.Experiment, ev proto.DecisionEvent, promoted string, archived ...string) Change {
	c := Change{At: ev.DecidedAt, Epoch: before.Epoch, Action: ev.Action, Actor: ev.Actor, StageFrom: before.Stage, StageTo: after.Stage,
		SplitFrom: before.Split, SplitTo: after.Split, Reason: ev.Reason, Promoted: promoted}
	if len(archived) > 0 {
		c.Archived = archived[0]
	}
	return c
}

func (s *Service) publish(ctx context.Context, ev proto.DecisionEvent) error {
	pctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	if _, err := bus.Publish(pctx, s.js, proto.DecisionSubject(ev.Experiment), &ev); err != nil {
		return fmt.Errorf("publish decision: %w", err)
	}
	s.met.decided(ev)
	return nil
}

// rollback drops the challenger's weight to 0.
func (s *Service) rollback(ctx context.Context, exp proto.Experiment, reason string) (proto.Experiment, error) {
	return router.UpdateExperiment(ctx, s.expKV, exp.Name, s.cfg.Actor, "ROLLBACK: "+reason, func(e *proto.Experiment) error {
		e.Split = proto.Split{Champion: 100, Challenger: 0}
		if e.Mode == proto.ModeShadow {
			e.Mode = proto.ModeSplit
		}
		return nil
	})
}

// advance moves the experiment to the next stage; from the last test stage it
// promotes the challenger to champion. It returns the experiment after the
// move and, on promotion, the promoted and archived model versions.
func (s *Service) advance(ctx context.Context, exp proto.Experiment, actor, reason string) (proto.Experiment, string, string, error) {
	next := exp.Stage + 1
	if exp.Mode == proto.ModeShadow {
		next = 0 // shadow mode proved the challenger: start the gradual rollout
	}
	if next < len(s.cfg.Stages)-1 || (exp.Mode == proto.ModeShadow) {
		split := s.cfg.StageSplit(next)
		after, err := router.UpdateExperiment(ctx, s.expKV, exp.Name, actor, "PROMOTE: "+reason, func(e *proto.Experiment) error {
			e.Mode, e.Split, e.Stage = proto.ModeSplit, split, next
			return nil
		})
		return after, "", "", err
	}
	return s.promote(ctx, exp, actor, reason)
}

// promote makes the challenger the champion. The order keeps patients on the
// proven model whatever step a crash interrupts: all traffic to the
// challenger arm, both aliases to the challenger's model, archive the old
// champion, then the split back to the champion arm.
func (s *Service) promote(ctx context.Context, exp proto.Experiment, actor, reason string) (proto.Experiment, string, string, error) {
	fail := func(err error) (proto.Experiment, string, string, error) {
		return proto.Experiment{}, "", "", fmt.Errorf("promote challenger: %w", err)
	}
	if _, err := router.UpdateExperiment(ctx, s.expKV, exp.Name, actor, "PROMOTE (all traffic to the challenger): "+reason, func(e *proto.Experiment) error {
		e.Split, e.Stage = proto.Split{Champion: 0, Challenger: 100}, len(s.cfg.Stages)-1
		return nil
	}); err != nil {
		return fail(err)
	}
	old, err := s.reg.Resolve(ctx, proto.ArmChampion)
	if err != nil {
		return fail(err)
	}
	nw, err := s.reg.Resolve(ctx, proto.ArmChallenger)
	if err != nil {
		return fail(err)
	}
	if err := s.reg.SetAlias(ctx, proto.ArmChampion, nw.Name, nw.Version, actor); err != nil {
		return fail(err)
	}
	archived := ""
	if old.Name != nw.Name || old.Version != nw.Version {
		if err := s.reg.Archive(ctx, old.Name, old.Version); err != nil && !errors.Is(err, registry.ErrInUse) {
			return fail(err)
		} else if err == nil {
			archived = old.String()
		}
	}
	after, err := router.UpdateExperiment(ctx, s.expKV, exp.Name, actor, "PROMOTE: "+nw.String()+" is the champion; "+reason, func(e *proto.Experiment) error {
		e.Split, e.Stage = proto.Split{Champion: 100, Challenger: 0}, 0
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return after, nw.String(), archived, nil
}
