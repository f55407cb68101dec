// Package client is the Go client of the platform's public HTTP API (the
// routes `hap serve` answers on its one listener): synchronous predictions
// and asynchronous uploads, radiologist feedback, live metrics, the joined
// state of a request, the served models and the rollout controls.
//
//	c, err := client.New("http://127.0.0.1:8080")
//	p, err := c.Predict(ctx, jpeg, client.FileName("person1_bacteria_1.jpeg"))
//	fmt.Println(p.RequestID, p.Arm, p.Model(), p.Label, p.Probability)
//	_, err = c.Feedback(ctx, p.RequestID, "true-positive", client.RadiologistID("DR001"))
//	snap, err := c.Metrics(ctx, "pneumonia")
//
// For thousands of images, PredictBatch streams files through a bounded
// number of concurrent predictions (`hap batch-predict` is built on it).
//
// Errors. An answer with a status outside 2xx is returned as a
// *problem.Problem: the server's RFC 9457 problem details, or, when the body
// is not problem JSON (a proxy's error page), a problem of type "about:blank"
// built from the status and the body text. Callers compare type URIs:
//
//	var pr *problem.Problem
//	if errors.As(err, &pr) && pr.Type == client.ProblemUndecodable { ... }
//
// Transport errors (connection refused, timeouts, a cancelled context) are
// returned wrapped with the method and URL, never as a *problem.Problem.
//
// Retries. Idempotent calls (every GET, and Feedback, which the server
// de-duplicates) are retried after a transport error or a 429, 502, 503 or
// 504 answer. Other calls (Predict, Upload, Approve, Reject, Start, Promote,
// Rollback) are retried only after a 503 carrying Retry-After: the server
// says it did nothing and when to come back. Both are bounded by
// Retry.Attempts and by the context; a Retry-After longer than Retry.MaxWait
// is not waited for.
//
// A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/healthcare-ai/platform/httpapi/problem"
	fbclient "github.com/healthcare-ai/platform/services/feedback/client"
)

// DefaultURL is where `hap serve` listens by default.
const DefaultURL = "http://127.0.0.1:8080"

// Problem type URIs of the platform's answers that callers commonly check.
// They are the ingestor's (ingestor.ProblemType of the proto.Reject* codes)
// and the shared generic kinds of package problem.
const (
	ProblemUndecodable       = problem.BaseURI + "undecodable"        // 422: not a decodable image
	ProblemUnsupportedFormat = problem.BaseURI + "unsupported-format" // 415: not JPEG, PNG or DICOM
	ProblemTooLarge          = problem.BaseURI + "too-large"          // 413
	ProblemTooSmall          = problem.BaseURI + "too-small"          // 422: a side below the minimum
	ProblemMissing           = problem.BaseURI + "missing"            // 400: no image in the request
	ProblemTimeout           = problem.BaseURI + "timeout"            // 504: no prediction in time (the result is still published)
	ProblemPredictionFailed  = problem.BaseURI + "prediction-failed"  // the model could not use the image
	ProblemUnavailable       = problem.BaseURI + "unavailable"        // 503: try again
	ProblemNotFound          = problem.BaseURI + "not-found"          // 404
	ProblemInvalidRequest    = problem.BaseURI + "invalid-request"    // 400: a field is missing or wrong (Problem.Field names it)
)

// Retry bounds the retries of a Client (see the package documentation for
// which calls are retried).
type Retry struct {
	// Attempts is the number of tries of a call, the first included
	// (default 3; 1 disables retries).
	Attempts int
	// Backoff is the wait before the first retry of an idempotent call
	// without Retry-After; it doubles on each further retry (default 250ms).
	Backoff time.Duration
	// MaxWait is the longest wait honoured, from Retry-After or backoff
	// (default 10s). A longer Retry-After ends the retries: its error is
	// returned.
	MaxWait time.Duration
}

// DefaultRetry is the retry policy of a new Client.
var DefaultRetry = Retry{Attempts: 3, Backoff: 250 * time.Millisecond, MaxWait: 10 * time.Second}

// Client calls the platform's HTTP API at one base URL.
type Client struct {
	base  string // scheme://host[:port][/prefix], no trailing slash
	hc    *http.Client
	retry Retry
	ua    string
	token string
	fb    *fbclient.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the default HTTP client (NewHTTPClient(2*time.Minute)).
// The context of each call bounds it too.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithRetry replaces DefaultRetry. Zero fields take their defaults.
func WithRetry(r Retry) Option { return func(c *Client) { c.retry = r } }

// WithToken sends "Authorization: Bearer <token>" with every request (the
// platform's users file gives each user or machine a token; see package
// auth). An empty token sends none.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// bearer adds the Authorization header to every request of its base
// transport.
type bearer struct {
	base  http.RoundTripper
	value string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", b.value)
	return b.base.RoundTrip(r)
}

// WithUserAgent sets the User-Agent header (default "hap-client/1").
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// NewHTTPClient returns an HTTP client with bounded connection setup and
// the given overall timeout per request, keeping enough idle connections for
// concurrent batch predictions to one host.
func NewHTTPClient(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          128,
		MaxIdleConnsPerHost:   64,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// New returns a client of the platform at baseURL ("http://127.0.0.1:8080";
// a path prefix is kept, for a platform behind a reverse proxy).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("client: base url %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: base url %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: base url %q: no host", baseURL)
	}
	u.RawQuery, u.Fragment = "", ""
	c := &Client{base: strings.TrimRight(u.String(), "/"), retry: DefaultRetry, ua: "hap-client/1"}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = NewHTTPClient(2 * time.Minute)
	}
	if c.token != "" {
		hc := *c.hc
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		hc.Transport = bearer{base: base, value: "Bearer " + c.token}
		c.hc = &hc
	}
	c.retry = c.retry.withDefaults()
	c.fb, err = fbclient.New(c.base, fbclient.WithHTTPClient(c.hc))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return c, nil
}

// BaseURL returns the base URL the client calls.
func (c *Client) BaseURL() string { return c.base }

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = DefaultRetry.Attempts
	}
	if r.Backoff <= 0 {
		r.Backoff = DefaultRetry.Backoff
	}
	if r.MaxWait <= 0 {
		r.MaxWait = DefaultRetry.MaxWait
	}
	return r
}

// maxResponse bounds the response body read by the client.
const maxResponse = 16 << 20

// call is one API call: a method, a path under the base URL and an optional
// body, sent again as is on a retry.
type call struct {
	method      string
	path        string // escaped, starting with "/"
	body        []byte
	contentType string
	header      http.Header
	idempotent  bool
}

// do performs cl with retries and decodes a 2xx JSON answer into out (when
// not nil).
func (c *Client) do(ctx context.Context, cl call, out any) error {
	u := c.base + cl.path
	for attempt := 1; ; attempt++ {
		wait, err := c.once(ctx, cl, u, out)
		if err == nil {
			return nil
		}
		if wait < 0 || attempt >= c.retry.Attempts {
			return err
		}
		if wait == 0 {
			wait = c.retry.Backoff << (attempt - 1)
		}
		if wait > c.retry.MaxWait || !sleep(ctx, wait) {
			return err
		}
	}
}

// once sends one attempt. On error, wait says whether to retry: negative no,
// zero after the backoff, positive after that long (Retry-After).
func (c *Client) once(ctx context.Context, cl call, u string, out any) (wait time.Duration, err error) {
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, body)
	if err != nil {
		return -1, fmt.Errorf("%s %s: %w", cl.method, u, err)
	}
	for k, v := range cl.header {
		req.Header[k] = v
	}
	if cl.contentType != "" {
		req.Header.Set("Content-Type", cl.contentType)
	}
	req.Header.Set("Accept", "application/json, "+problem.ContentType)
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.hc.Do(req)
	if err != nil {
		err = transportError(cl.method, u, err)
		if cl.idempotent && ctx.Err() == nil {
			return 0, err
		}
		return -1, err
	}
	defer resp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode/100 == 2 {
		if rerr != nil {
			err = transportError(cl.method, u, rerr)
			if cl.idempotent && ctx.Err() == nil {
				return 0, err
			}
			return -1, err
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return -1, fmt.Errorf("%s %s: decode %d answer: %w", cl.method, u, resp.StatusCode, err)
			}
		}
		return 0, nil
	}
	p := ProblemFrom(resp.StatusCode, data)
	ra, hasRA := retryAfter(resp.Header.Get("Retry-After"))
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable && hasRA:
		return max(ra, time.Nanosecond), p
	case cl.idempotent && retryableStatus(resp.StatusCode):
		if hasRA {
			return max(ra, time.Nanosecond), p
		}
		return 0, p
	}
	return -1, p
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// transportError names the call of a transport error, keeping the cause
// (a *net.OpError, context.Canceled, ...) for errors.Is and errors.As.
func transportError(method, u string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s %s: %w", method, u, err)
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// ProblemFrom turns an error answer into a *problem.Problem: the body when
// it is problem details (or any JSON object with a type or title), otherwise
// a problem of type "about:blank" whose detail is the start of the body. The
// status is always the answer's.
func ProblemFrom(status int, body []byte) *problem.Problem {
	var p problem.Problem
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &p) == nil && (p.Type != "" || p.Title != "") {
		if p.Type == "" {
			p.Type = "about:blank"
		}
		if p.Title == "" {
			p.Title = http.StatusText(status)
		}
		p.Status = status
		return &p
	}
	detail := strings.TrimSpace(string(trimmed))
	if len(detail) > 300 {
		detail = detail[:300] + "..."
	}
	title := http.StatusText(status)
	if title == "" {
		title = "HTTP " + strconv.Itoa(status)
	}
	return &problem.Problem{Type: "about:blank", Title: title, Status: status, Detail: detail}
}

// getJSON GETs path (escaped) into out, retried as an idempotent call.
func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	return c.do(ctx, call{method: http.MethodGet, path: path, idempotent: true}, out)
}

// postJSON POSTs in as JSON to path and decodes the answer into out.
func (c *Client) postJSON(ctx context.Context, path string, in, out any, idempotent bool) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("POST %s%s: encode body: %w", c.base, path, err)
	}
	return c.do(ctx, call{method: http.MethodPost, path: path, body: b, contentType: "application/json", idempotent: idempotent}, out)
}
