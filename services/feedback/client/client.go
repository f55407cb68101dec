// Package client submits radiologist feedback to the feedback service, over
// HTTP (Client) or through NATS JetStream (NATSClient). Both mirror the seed's
// submit_feedback(request_id, "true-positive", radiologist_id="DR001"):
//
//	c, _ := client.New("http://127.0.0.1:8083")
//	rec, err := c.SubmitFeedback(ctx, "req-123", "true-positive", client.RadiologistID("DR001"))
//
// A rejected submission returns a *Problem (the server's problem details,
// naming the offending field); use errors.As to inspect it. Resubmitting the
// same feedback is safe: the server derives the same feedback_id and counts it
// once (Receipt.Duplicate reports a repeat seen by the stream).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/healthcare-ai/platform/proto"

	"github.com/healthcare-ai/platform/httpapi/problem"
)

// Path is the HTTP route of feedback submission.
const Path = "/v1/feedback"

// ContentTypeProblem is the media type of an error body (RFC 9457).
const ContentTypeProblem = "application/problem+json"

// Receipt is the body of a successful submission (HTTP 202 Accepted, or the
// NATS reply): the feedback was recorded and acknowledged by JetStream.
type Receipt struct {
	FeedbackID  string `json:"feedback_id"`
	RequestID   string `json:"request_id"`
	GroundTruth string `json:"ground_truth"`
	// Duplicate is true when the stream had already recorded this feedback_id
	// (a retried or double-clicked submission); it still counts once.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Problem is the body of a failed submission in the style of RFC 9457 problem
// details, with Field naming the offending input field. *Problem is the error
// returned by SubmitFeedback for a rejected submission.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Problem types (stable URIs under problem.BaseURI, shared by every
// endpoint of the platform).
const (
	ProblemInvalid     = problem.BaseURI + "invalid-request"
	ProblemTooLarge    = problem.BaseURI + "body-too-large"
	ProblemMediaType   = problem.BaseURI + "unsupported-media-type"
	ProblemMethod      = problem.BaseURI + "method-not-allowed"
	ProblemUnavailable = problem.BaseURI + "unavailable"
	ProblemInternal    = problem.BaseURI + "internal"
)

func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "feedback rejected (%d %s)", p.Status, p.Title)
	if p.Detail != "" {
		b.WriteString(": ")
		b.WriteString(p.Detail)
	}
	return b.String()
}

// Temporary reports whether retrying the same submission later may succeed
// (the service or its stream was unavailable).
func (p *Problem) Temporary() bool {
	return p.Status >= 500 || p.Status == http.StatusTooManyRequests
}

// Option sets an optional field of a submission.
type Option func(*proto.FeedbackSubmission)

// RadiologistID sets who gave the feedback.
func RadiologistID(id string) Option {
	return func(s *proto.FeedbackSubmission) { s.RadiologistID = id }
}

// Confidence sets the radiologist's confidence, 0..1.
func Confidence(c float64) Option { return func(s *proto.FeedbackSubmission) { s.Confidence = &c } }

// Notes sets free-text notes (at most proto.MaxNotesBytes).
func Notes(n string) Option { return func(s *proto.FeedbackSubmission) { s.Notes = n } }

// GroundTruth states the ground truth (NORMAL or PNEUMONIA) directly; pass an
// empty feedbackType to SubmitFeedback to use it alone.
func GroundTruth(label string) Option {
	return func(s *proto.FeedbackSubmission) { s.GroundTruth = label }
}

// FeedbackID sets an explicit idempotency key instead of the derived one.
func FeedbackID(id string) Option { return func(s *proto.FeedbackSubmission) { s.FeedbackID = id } }

// Source names the submitting system ("review-ui", "simulator", ...; the
// evaluator treats "adjudication" as the resolution of conflicting feedback).
func Source(src string) Option { return func(s *proto.FeedbackSubmission) { s.Source = src } }

// Submission builds the submission SubmitFeedback sends.
func Submission(requestID, feedbackType string, opts ...Option) proto.FeedbackSubmission {
	s := proto.FeedbackSubmission{RequestID: requestID, FeedbackType: feedbackType}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// Submitter is implemented by Client (HTTP) and NATSClient.
type Submitter interface {
	SubmitFeedback(ctx context.Context, requestID, feedbackType string, opts ...Option) (*Receipt, error)
}

// Client submits feedback over HTTP. It is safe for concurrent use.
type Client struct {
	endpoint string
	hc       *http.Client
	token    string
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHTTPClient replaces the default HTTP client (10 s timeout).
func WithHTTPClient(hc *http.Client) ClientOption { return func(c *Client) { c.hc = hc } }

// WithToken sends "Authorization: Bearer <token>": the platform records the
// feedback under the token's user (then leave RadiologistID out, or give the
// same id).
func WithToken(token string) ClientOption { return func(c *Client) { c.token = token } }

// New returns a client of the feedback service at baseURL
// (e.g. "http://127.0.0.1:8083").
func New(baseURL string, opts ...ClientOption) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("feedback client: base url %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("feedback client: base url %q: scheme must be http or https", baseURL)
	}
	c := &Client{endpoint: strings.TrimRight(u.String(), "/") + Path, hc: &http.Client{Timeout: 10 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// maxResponse bounds the response body read by the client.
const maxResponse = 1 << 20

// SubmitFeedback posts one feedback. feedbackType is one of true-positive,
// false-positive, true-negative, false-negative, or empty when GroundTruth is
// given. It returns the receipt once the feedback is recorded, a *Problem when
// the service rejects it, or a transport error.
func (c *Client) SubmitFeedback(ctx context.Context, requestID, feedbackType string, opts ...Option) (*Receipt, error) {
	sub := Submission(requestID, feedbackType, opts...)
	body, err := json.Marshal(sub)
	if err != nil {
		return nil, fmt.Errorf("encode feedback request_id=%s: %w", requestID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build feedback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, "+ContentTypeProblem)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("post feedback request_id=%s: %w", requestID, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("read feedback response request_id=%s: %w", requestID, err)
	}
	if resp.StatusCode/100 == 2 {
		var r Receipt
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("decode feedback receipt request_id=%s: %w", requestID, err)
		}
		return &r, nil
	}
	return nil, problemFrom(resp.StatusCode, data)
}

// problemFrom turns an error response into a *Problem, also when the body is
// not problem JSON (a proxy's error page).
func problemFrom(status int, data []byte) *Problem {
	var p Problem
	if err := json.Unmarshal(data, &p); err != nil || p.Status == 0 {
		detail := strings.TrimSpace(string(data))
		if len(detail) > 200 {
			detail = detail[:200]
		}
		p = Problem{Type: "about:blank", Title: http.StatusText(status), Detail: detail}
	}
	p.Status = status
	return &p
}

// decodeReply decodes a NATS reply: a Receipt, or a Problem (status >= 400).
func decodeReply(data []byte) (*Receipt, error) {
	var probe struct {
		Status int `json:"status"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("decode feedback reply: %w", err)
	}
	if probe.Status >= 400 {
		return nil, problemFrom(probe.Status, data)
	}
	var r Receipt
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode feedback reply: %w", err)
	}
	if r.FeedbackID == "" {
		return nil, errors.New("decode feedback reply: no feedback_id")
	}
	return &r, nil
}
