package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/evaluator"
	"github.com/healthcare-ai/platform/services/rollout"
)

// Metrics returns the live metrics of an experiment (GET
// /v1/metrics/{experiment}): per arm and per epoch, as the evaluator
// publishes them on metrics.<experiment>.experiment. An experiment without
// results is a ProblemNotFound.
func (c *Client) Metrics(ctx context.Context, experiment string) (*proto.MetricsSnapshot, error) {
	var s proto.MetricsSnapshot
	if err := c.getJSON(ctx, "/v1/metrics/"+url.PathEscape(experiment), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// AllMetrics returns the metrics of every experiment (GET /v1/metrics).
func (c *Client) AllMetrics(ctx context.Context) (*evaluator.Overview, error) {
	var o evaluator.Overview
	if err := c.getJSON(ctx, "/v1/metrics", &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// Request returns the joined state of one request (GET
// /v1/requests/{request_id}): its result per arm, its feedback and the
// verdict. A request the evaluator has not seen yet is a ProblemNotFound.
func (c *Client) Request(ctx context.Context, requestID string) (*evaluator.RequestView, error) {
	var v evaluator.RequestView
	if err := c.getJSON(ctx, "/v1/requests/"+url.PathEscape(requestID), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Models is the answer of GET /v1/models: the experiment and the model each
// arm serves.
type Models struct {
	Experiment proto.Experiment `json:"experiment"`
	Arms       []ArmModel       `json:"arms"`
}

// ArmModel is the model one arm serves.
type ArmModel struct {
	Arm          string  `json:"arm"`
	ModelName    string  `json:"served_model_name"`
	ModelVersion string  `json:"model_version"`
	Architecture string  `json:"architecture"`
	Release      string  `json:"release"`
	Threshold    float64 `json:"threshold"`
	Input        string  `json:"input"` // "1x128x128 <resize>"
}

// Models returns the model each arm serves and the experiment's split.
func (c *Client) Models(ctx context.Context) (*Models, error) {
	var m Models
	if err := c.getJSON(ctx, "/v1/models", &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Rollout returns the decision engine's status of an experiment (GET
// /v1/rollout/{experiment}): stage, last decision with its statistics,
// pending recommendation, history.
func (c *Client) Rollout(ctx context.Context, experiment string) (*rollout.Status, error) {
	var s rollout.Status
	if err := c.getJSON(ctx, rolloutPath(experiment), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Approve executes the pending recommendation of an experiment on behalf of
// by (recorded in the audit log with reason). Nothing pending is a 409
// problem. Not retried except after a 503 with Retry-After.
func (c *Client) Approve(ctx context.Context, experiment, by, reason string) (*proto.DecisionEvent, error) {
	var ev proto.DecisionEvent
	if err := c.postJSON(ctx, rolloutPath(experiment)+"/approve", actor{by, reason}, &ev, false); err != nil {
		return nil, err
	}
	return &ev, nil
}

// Reject drops the pending recommendation of an experiment on behalf of by;
// the engine keeps testing.
func (c *Client) Reject(ctx context.Context, experiment, by, reason string) (*proto.DecisionEvent, error) {
	var ev proto.DecisionEvent
	if err := c.postJSON(ctx, rolloutPath(experiment)+"/reject", actor{by, reason}, &ev, false); err != nil {
		return nil, err
	}
	return &ev, nil
}

// Promote moves the challenger to the next stage on a person's authority,
// without a significant test (a manual override, audited as test "manual").
// No challenger under test is a 409 problem.
func (c *Client) Promote(ctx context.Context, experiment, by, reason string) (*proto.DecisionEvent, error) {
	var ev proto.DecisionEvent
	if err := c.postJSON(ctx, rolloutPath(experiment)+"/promote", actor{by, reason}, &ev, false); err != nil {
		return nil, err
	}
	return &ev, nil
}

// Rollback drops the challenger to 0% on a person's authority (a manual
// override, audited).
func (c *Client) Rollback(ctx context.Context, experiment, by, reason string) (*proto.DecisionEvent, error) {
	var ev proto.DecisionEvent
	if err := c.postJSON(ctx, rolloutPath(experiment)+"/rollback", actor{by, reason}, &ev, false); err != nil {
		return nil, err
	}
	return &ev, nil
}

// Start (re)starts the rollout of an experiment at its first stage, in a new
// epoch, and returns the experiment as written.
func (c *Client) Start(ctx context.Context, experiment, by, reason string) (*proto.Experiment, error) {
	var e proto.Experiment
	if err := c.postJSON(ctx, rolloutPath(experiment)+"/start", actor{by, reason}, &e, false); err != nil {
		return nil, err
	}
	return &e, nil
}

// Ready reports whether the platform is ready (GET /readyz): nil, or the
// problem naming what is not ready. It is not retried.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodGet, path: "/readyz"}, nil)
}

type actor struct {
	By     string `json:"by"`
	Reason string `json:"reason"`
}

func rolloutPath(experiment string) string { return "/v1/rollout/" + url.PathEscape(experiment) }
