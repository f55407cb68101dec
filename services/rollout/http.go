package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/router"
)

// Routes served by Handler.
const (
	RouteStatus  = "GET /v1/rollout/{experiment}"
	RouteApprove = "POST /v1/rollout/{experiment}/approve"
	RouteReject  = "POST /v1/rollout/{experiment}/reject"
	RouteStart   = "POST /v1/rollout/{experiment}/start"
	// RoutePromote and RouteRollback are manual overrides by a person: they
	// move the split without a significant test (recorded as test "manual").
	RoutePromote  = "POST /v1/rollout/{experiment}/promote"
	RouteRollback = "POST /v1/rollout/{experiment}/rollback"
)

// ErrNothingPending is returned by Approve and Reject when no recommendation
// waits for a person.
var ErrNothingPending = errors.New("no recommendation is pending")

// ErrNoChallenger is returned by ManualPromote and ManualRollback when no
// challenger is under test.
var ErrNoChallenger = errors.New("no challenger under test")

var problemNoChallenger = problem.Kind{Slug: "no-challenger", Title: "No challenger under test", Status: http.StatusConflict}

// Status is what GET /v1/rollout/{experiment} returns.
type Status struct {
	Experiment  proto.Experiment `json:"experiment"`
	RolloutMode string           `json:"rollout_mode"`
	Stages      []int            `json:"stages"`
	Champion    string           `json:"champion_model"`
	Challenger  string           `json:"challenger_model"`
	State       State            `json:"state"`
}

// Experiment is the name of the controlled experiment.
func (s *Service) Experiment() string { return s.cfg.Experiment }

// Status returns the experiment, the engine's latest decision, the pending
// recommendation and the history.
func (s *Service) Status(ctx context.Context) (Status, error) {
	<-s.ready
	exp, _, err := router.GetExperiment(ctx, s.expKV, s.cfg.Experiment)
	if err != nil {
		return Status{}, err
	}
	st, _, err := loadState(ctx, s.kv, s.cfg.Experiment)
	if err != nil {
		return Status{}, err
	}
	champ, chall := s.models(ctx)
	return Status{Experiment: exp, RolloutMode: s.cfg.Mode, Stages: s.cfg.Stages, Champion: champ, Challenger: chall, State: st}, nil
}

// Approve executes the pending recommendation on behalf of by.
func (s *Service) Approve(ctx context.Context, by, reason string) (proto.DecisionEvent, error) {
	return s.resolvePending(ctx, by, reason, true)
}

// Reject drops the pending recommendation on behalf of by; the engine keeps
// testing and does not recommend a promotion again for this epoch.
func (s *Service) Reject(ctx context.Context, by, reason string) (proto.DecisionEvent, error) {
	return s.resolvePending(ctx, by, reason, false)
}

func (s *Service) resolvePending(ctx context.Context, by, reason string, approve bool) (proto.DecisionEvent, error) {
	<-s.ready
	if strings.TrimSpace(by) == "" {
		return proto.DecisionEvent{}, errors.New("by: required (who approves or rejects)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, _, err := router.GetExperiment(ctx, s.expKV, s.cfg.Experiment)
	if err != nil {
		return proto.DecisionEvent{}, err
	}
	st, rev, err := loadState(ctx, s.kv, s.cfg.Experiment)
	if err != nil {
		return proto.DecisionEvent{}, err
	}
	p := st.Pending
	if p == nil || p.Epoch != exp.Epoch {
		return proto.DecisionEvent{}, fmt.Errorf("experiment %s: %w", exp.Name, ErrNothingPending)
	}
	now := s.cfg.Now().UTC()
	ev := proto.DecisionEvent{
		DecisionID: p.DecisionID + ":" + map[bool]string{true: "approved", false: "rejected"}[approve],
		Experiment: exp.Name, Epoch: exp.Epoch, Action: p.Action, RolloutMode: s.cfg.Mode, Actor: by,
		StageBefore: exp.Stage, StageAfter: exp.Stage, SplitBefore: exp.Split, SplitAfter: exp.Split,
		Reason: p.Reason, DecidedAt: now,
	}
	if reason != "" {
		ev.Reason = reason + " (engine: " + p.Reason + ")"
	}
	if st.Last != nil {
		ev.Test, ev.Metric, ev.Statistic, ev.PValue = st.Last.Test, string(st.Last.Metric), st.Last.Statistic, st.Last.PValue
		ev.Difference, ev.SensitivityDiff = proto.Interval(st.Last.Difference), proto.Interval(st.Last.SensitivityDifference)
		ev.ChampionN, ev.ChallengerN = st.Last.Champion.Labelled, st.Last.Challenger.Labelled
	}
	ev.Champion, ev.Challenger = s.models(ctx)
	if approve {
		after, promoted, archived, err := s.advance(ctx, exp, by, ev.Reason)
		if err != nil {
			return proto.DecisionEvent{}, err
		}
		ev.Outcome, ev.SplitAfter, ev.StageAfter = proto.OutcomeApproved, after.Split, after.Stage
		st.record(change(exp, after, ev, promoted, archived))
	} else {
		ev.Outcome = proto.OutcomeRejected
		st.RejectedEpoch = exp.Epoch
	}
	st.Pending = nil
	if err := s.publish(ctx, ev); err != nil {
		return proto.DecisionEvent{}, err
	}
	if _, err := saveState(ctx, s.kv, st, rev); err != nil {
		return proto.DecisionEvent{}, err
	}
	s.log.Info("recommendation resolved", "outcome", ev.Outcome, "by", by, "split_after", ev.SplitAfter.String())
	return ev, nil
}

// Start (re)starts the rollout at the first stage, for a new challenger.
func (s *Service) Start(ctx context.Context, by, reason string) (proto.Experiment, error) {
	<-s.ready
	if strings.TrimSpace(by) == "" {
		return proto.Experiment{}, errors.New("by: required (who starts the rollout)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	split := s.cfg.StageSplit(0)
	return router.UpdateExperiment(ctx, s.expKV, s.cfg.Experiment, by, "rollout started: "+reason, func(e *proto.Experiment) error {
		// Always a new epoch, even if the split is already the first stage's:
		// the first stage tests only data from after the start.
		e.Mode, e.Split, e.Stage, e.Epoch = proto.ModeSplit, split, 0, e.Epoch+1
		return nil
	})
}

// ManualPromote moves the experiment to the next stage (or promotes the
// challenger from the last one) on a person's authority, without waiting for
// significance. The reason is required: it is the audit record.
func (s *Service) ManualPromote(ctx context.Context, by, reason string) (proto.DecisionEvent, error) {
	return s.manual(ctx, by, reason, proto.ActionPromote)
}

// ManualRollback drops the challenger to 0% on a person's authority.
func (s *Service) ManualRollback(ctx context.Context, by, reason string) (proto.DecisionEvent, error) {
	return s.manual(ctx, by, reason, proto.ActionRollback)
}

func (s *Service) manual(ctx context.Context, by, reason, action string) (proto.DecisionEvent, error) {
	<-s.ready
	if strings.TrimSpace(by) == "" {
		return proto.DecisionEvent{}, errors.New("by: required (who overrides the engine)")
	}
	if strings.TrimSpace(reason) == "" {
		return proto.DecisionEvent{}, errors.New("reason: required for a manual " + strings.ToLower(action))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, _, err := router.GetExperiment(ctx, s.expKV, s.cfg.Experiment)
	if err != nil {
		return proto.DecisionEvent{}, err
	}
	if exp.Split.Challenger == 0 && exp.Mode != proto.ModeShadow {
		return proto.DecisionEvent{}, fmt.Errorf("experiment %s: %w (split %s); start a rollout first", exp.Name, ErrNoChallenger, exp.Split)
	}
	st, rev, err := loadState(ctx, s.kv, s.cfg.Experiment)
	if err != nil {
		return proto.DecisionEvent{}, err
	}
	now := s.cfg.Now().UTC()
	ev := proto.DecisionEvent{
		DecisionID: fmt.Sprintf("%s:%d:manual-%s:%d", exp.Name, exp.Epoch, strings.ToLower(action), now.UnixNano()),
		Experiment: exp.Name, Epoch: exp.Epoch, Action: action, Outcome: proto.OutcomeExecuted, RolloutMode: s.cfg.Mode,
		Actor: by, Reason: "manual " + strings.ToLower(action) + ": " + reason, Test: "manual",
		StageBefore: exp.Stage, SplitBefore: exp.Split, DecidedAt: now,
	}
	if st.Last != nil && st.Epoch == exp.Epoch {
		ev.Metric, ev.Statistic, ev.PValue = string(st.Last.Metric), st.Last.Statistic, st.Last.PValue
		ev.Difference, ev.SensitivityDiff = proto.Interval(st.Last.Difference), proto.Interval(st.Last.SensitivityDifference)
		ev.ChampionN, ev.ChallengerN = st.Last.Champion.Labelled, st.Last.Challenger.Labelled
	}
	ev.Champion, ev.Challenger = s.models(ctx)
	var after proto.Experiment
	promoted, archived := "", ""
	if action == proto.ActionPromote {
		after, promoted, archived, err = s.advance(ctx, exp, by, ev.Reason)
	} else {
		after, err = router.UpdateExperiment(ctx, s.expKV, exp.Name, by, "ROLLBACK: "+ev.Reason, func(e *proto.Experiment) error {
			e.Split, e.Mode = proto.Split{Champion: 100, Challenger: 0}, proto.ModeSplit
			return nil
		})
	}
	if err != nil {
		return proto.DecisionEvent{}, err
	}
	ev.StageAfter, ev.SplitAfter = after.Stage, after.Split
	st.record(change(exp, after, ev, promoted, archived))
	st.Pending = nil
	if err := s.publish(ctx, ev); err != nil {
		return proto.DecisionEvent{}, err
	}
	if _, err := saveState(ctx, s.kv, st, rev); err != nil {
		return proto.DecisionEvent{}, err
	}
	s.log.Warn("manual override", "action", action, "by", by, "reason", reason, "split_after", after.Split.String())
	return ev, nil
}

// Handler serves the routes above.
func (s *Service) Handler() http.Handler { return s.handler }

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(RouteStatus, s.ownExperiment(func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Status(r.Context())
		if err != nil {
			s.problem(w, http.StatusServiceUnavailable, "", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, "application/json", st)
	}))
	action := func(approve bool) http.HandlerFunc {
		return s.ownExperiment(func(w http.ResponseWriter, r *http.Request) {
			body, ok := s.readAction(w, r, `{"by": ..., "reason": ...}`)
			if !ok {
				return
			}
			var ev proto.DecisionEvent
			var err error
			if approve {
				ev, err = s.Approve(r.Context(), body.By, body.Reason)
			} else {
				ev, err = s.Reject(r.Context(), body.By, body.Reason)
			}
			switch {
			case errors.Is(err, ErrNothingPending):
				s.problem(w, http.StatusConflict, "", err.Error())
			case err != nil && strings.HasPrefix(err.Error(), "by:"):
				s.problem(w, http.StatusBadRequest, "by", err.Error())
			case err != nil:
				s.problem(w, http.StatusInternalServerError, "", err.Error())
			default:
				writeJSON(w, http.StatusOK, "application/json", ev)
			}
		})
	}
	mux.HandleFunc(RouteApprove, action(true))
	mux.HandleFunc(RouteReject, action(false))
	manual := func(do func(context.Context, string, string) (proto.DecisionEvent, error)) http.HandlerFunc {
		return s.ownExperiment(func(w http.ResponseWriter, r *http.Request) {
			body, ok := s.readAction(w, r, `{"by": ..., "reason": ...}`)
			if !ok {
				return
			}
			ev, err := do(r.Context(), body.By, body.Reason)
			switch {
			case errors.Is(err, ErrNoChallenger):
				problem.Write(w, problemNoChallenger.New("", "%s", err.Error()))
			case err != nil && (strings.HasPrefix(err.Error(), "by:") || strings.HasPrefix(err.Error(), "reason:")):
				field, _, _ := strings.Cut(err.Error(), ":")
				s.problem(w, http.StatusBadRequest, field, err.Error())
			case err != nil:
				s.problem(w, http.StatusInternalServerError, "", err.Error())
			default:
				writeJSON(w, http.StatusOK, "application/json", ev)
			}
		})
	}
	mux.HandleFunc(RoutePromote, manual(s.ManualPromote))
	mux.HandleFunc(RouteRollback, manual(s.ManualRollback))
	mux.HandleFunc(RouteStart, s.ownExperiment(func(w http.ResponseWriter, r *http.Request) {
		body, ok := s.readAction(w, r, `{"by": <who>, "reason": ...}`)
		if !ok {
			return
		}
		if strings.TrimSpace(body.By) == "" {
			s.problem(w, http.StatusBadRequest, "by", "want JSON {\"by\": <who>, \"reason\": ...}")
			return
		}
		exp, err := s.Start(r.Context(), body.By, body.Reason)
		if err != nil {
			s.problem(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, "application/json", exp)
	}))
	return mux
}

func (s *Service) ownExperiment(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if name := r.PathValue("experiment"); name != s.cfg.Experiment {
			s.problem(w, http.StatusNotFound, "experiment", fmt.Sprintf("experiment %q: not controlled here (this controller runs %q)", name, s.cfg.Experiment))
			return
		}
		h(w, r)
	}
}

// Problem types of the rollout API, by status.
var problemKinds = map[int]problem.Kind{
	http.StatusBadRequest:          {Slug: "invalid-request", Title: "Invalid request", Status: http.StatusBadRequest},
	http.StatusNotFound:            {Slug: "unknown-experiment", Title: "Experiment not controlled here", Status: http.StatusNotFound},
	http.StatusConflict:            {Slug: "nothing-pending", Title: "No recommendation is pending", Status: http.StatusConflict},
	http.StatusServiceUnavailable:  {Slug: "unavailable", Title: "Service unavailable", Status: http.StatusServiceUnavailable},
	http.StatusInternalServerError: {Slug: "internal", Title: "Internal error", Status: http.StatusInternalServerError},
}

func (s *Service) problem(w http.ResponseWriter, status int, field, detail string) {
	k, ok := problemKinds[status]
	if !ok {
		k = problem.Kind{Slug: "internal", Title: http.StatusText(status), Status: status}
	}
	problem.Write(w, k.New(field, "%s", detail))
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// actionBody is the JSON body of the rollout actions.
type actionBody struct {
	By     string `json:"by"`
	Reason string `json:"reason"`
}

// readAction decodes an action's body (shape names it in the problem of a
// bad body) and puts the signed-in user in By (see signedIn). It writes the
// problem and returns false when the request cannot go on.
func (s *Service) readAction(w http.ResponseWriter, r *http.Request, shape string) (actionBody, bool) {
	var body actionBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
		s.problem(w, http.StatusBadRequest, "body", "want JSON "+shape+": "+err.Error())
		return body, false
	}
	return body, signedIn(w, r, &body.By, s)
}

// signedIn puts the authenticated user's id in *by: an action is recorded
// under the sign-in, not under a name the client sends. A different "by" in
// the body is refused (400). With authentication off *by is left as sent.
func signedIn(w http.ResponseWriter, r *http.Request, by *string, s *Service) bool {
	id, ok := auth.Authenticated(r.Context())
	if !ok {
		return true
	}
	if given := strings.TrimSpace(*by); given != "" && given != id.ID {
		s.problem(w, http.StatusBadRequest, "by", fmt.Sprintf("by %q: you are signed in as %q and the action is recorded under your sign-in; leave by out", given, id.ID))
		return false
	}
	*by = id.ID
	return true
}
