package feedback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/feedback/client"
)

// Deps are the service's collaborators. The caller owns them and closes them
// after Run has returned.
type Deps struct {
	// JS publishes recorded/rejected events and consumes submissions (required).
	JS jetstream.JetStream
	// Logger receives the service's logs (default: discarded).
	Logger *slog.Logger
	// Metrics registers the service's metrics (metrics.go); nil: none.
	Metrics prometheus.Registerer
	// Auth, when set, makes the HTTP listener that Run starts
	// (Config.HTTPAddr) require bearer tokens of users holding the role
	// radiologist (feedback is then recorded under the user) (package auth); nil serves it without authentication. The
	// platform mounts Handler itself, with its own rules.
	Auth *auth.Users
}

// Service is the feedback service. Handler may be used on its own; Run adds
// the NATS consumer and, with Config.HTTPAddr, an HTTP listener.
type Service struct {
	cfg     Config
	js      jetstream.JetStream
	log     *slog.Logger
	handler http.Handler
	met     *metrics
	users   *auth.Users

	mu      sync.Mutex
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
	addr    net.Addr
}

// New fills the zero fields of cfg from DefaultConfig (an empty HTTPAddr stays
// empty: no listener), checks it and returns a service.
func New(cfg Config, deps Deps) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.JS == nil {
		return nil, errors.New("feedback: deps.JS is required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, js: deps.JS, log: log.With("service", "feedback"), met: newMetrics(deps.Metrics), users: deps.Auth}
	mux := http.NewServeMux()
	mux.HandleFunc(client.Path, s.serveFeedback)
	s.handler = mux
	return s, nil
}

// Handler serves POST /v1/feedback. It works without Run.
func (s *Service) Handler() http.Handler { return s.handler }

// Addr is the address of the HTTP listener started by Run, nil before it
// listens or when Config.HTTPAddr is empty.
func (s *Service) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run consumes submissions from NATS and serves HTTP on Config.HTTPAddr until
// ctx is cancelled or a component fails. On the way out it stops taking work,
// finishes in-flight submissions (HTTP requests within ShutdownTimeout, NATS
// messages settled by bus.Consume) and returns nil after a clean shutdown.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("feedback: already running")
	}
	s.running, s.cancel, s.done = true, cancel, make(chan struct{})
	done := s.done
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running, s.cancel, s.addr = false, nil, nil
		s.mu.Unlock()
		close(done)
	}()

	var srv *http.Server
	var ln net.Listener
	if s.cfg.HTTPAddr != "" {
		var err error
		ln, err = net.Listen("tcp", s.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("feedback: listen %s: %w", s.cfg.HTTPAddr, err)
		}
		s.mu.Lock()
		s.addr = ln.Addr()
		s.mu.Unlock()
		srv = &http.Server{
			Handler:           auth.Require(s.users, auth.RoleRadiologist, s.handler),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	if srv != nil {
		s.log.Info("http listening", "addr", ln.Addr().String())
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("feedback: serve http: %w", err)
				cancel()
			}
		})
	}
	wg.Go(func() {
		cc := bus.ConsumerConfig{
			Stream:         proto.StreamFeedback,
			Durable:        proto.ConsumerFeedback,
			FilterSubjects: []string{proto.SubjectFeedbackSubmit},
			Workers:        s.cfg.Workers,
			AckWait:        s.cfg.AckWait,
			MaxDeliver:     s.cfg.MaxDeliver,
		}
		// An error after cancellation (a consumer creation cut short by a
		// quick stop) is part of shutting down, not a failure.
		if err := bus.Consume(ctx, s.js, cc, s.log, s.handleSubmit); err != nil && ctx.Err() == nil {
			errs <- fmt.Errorf("feedback: %w", err)
		}
		cancel()
	})
	<-ctx.Done()
	if srv != nil {
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			errs <- fmt.Errorf("feedback: shut down http: %w", err)
		}
		scancel()
	}
	wg.Wait()
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
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("feedback: close: %w", ctx.Err())
	}
}

// serveFeedback handles POST /v1/feedback.
func (s *Service) serveFeedback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeProblem(w, r, &Error{kind: kindMethod, Field: "method", Err: fmt.Errorf("method %s: must be POST", r.Method)}, "")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			s.writeProblem(w, r, &Error{kind: kindMediaType, Field: "Content-Type", Err: fmt.Errorf("Content-Type %q: must be application/json", ct)}, "")
			return
		}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeProblem(w, r, &Error{kind: kindTooLarge, Field: "body", Err: fmt.Errorf("body: larger than the limit of %d bytes", tooBig.Limit)}, "")
			return
		}
		s.writeProblem(w, r, invalid("body", "body: read: %v", err), "")
		return
	}
	// Finish a started recording even if the client goes away: a retry is
	// idempotent, but a completed one saves it.
	ctx := withTrace(context.WithoutCancel(r.Context()), r.Header.Get(proto.HeaderTraceParent))
	signedIn := ""
	if id, ok := auth.Authenticated(r.Context()); ok {
		signedIn = id.ID
	}
	rec, sub, err := s.submit(ctx, raw, SourceAPI, signedIn)
	s.met.submitted(rec, err)
	if err != nil {
		reqID := ""
		if sub != nil {
			reqID = sub.RequestID
		}
		s.writeProblem(w, r, err, reqID)
		return
	}
	writeJSON(w, http.StatusAccepted, "application/json", rec)
}

func (s *Service) writeProblem(w http.ResponseWriter, r *http.Request, err error, requestID string) {
	e := asError(err)
	p := e.Problem(requestID)
	level := slog.LevelInfo
	if !e.Permanent() {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "feedback refused", logRequestID, requestID, "status", p.Status, "field", p.Field, logErr, err)
	writeJSON(w, p.Status, client.ContentTypeProblem, p)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// handleSubmit processes one submission from proto.SubjectFeedbackSubmit. It
// returns nil once the recorded event is acknowledged; for an invalid
// submission it records a FeedbackRejected event and returns a Permanent
// error; for a temporary failure it returns the error so bus retries.
func (s *Service) handleSubmit(ctx context.Context, m jetstream.Msg) error {
	replyTo := m.Headers().Get(proto.HeaderReplyTo)
	ctx = withTrace(ctx, m.Headers().Get(proto.HeaderTraceParent))
	rec, sub, err := s.submit(ctx, m.Data(), SourceNATS, "")
	s.met.submitted(rec, err)
	if err == nil {
		s.reply(replyTo, rec, rec.RequestID)
		return nil
	}
	e := asError(err)
	reqID := m.Headers().Get(proto.HeaderRequestID)
	if sub != nil && sub.RequestID != "" {
		reqID = sub.RequestID
	}
	if !e.Permanent() {
		return err
	}
	if rerr := s.reject(ctx, m, reqID, e); rerr != nil {
		return rerr // temporary: retry, so that the rejection is not lost
	}
	s.reply(replyTo, e.Problem(reqID), reqID)
	return bus.Permanent(fmt.Errorf("feedback submission rejected: %w", err))
}

// reject records an invalid NATS submission on proto.SubjectFeedbackRejected.
// Its Nats-Msg-Id is derived from the submission's stream sequence so that a
// redelivered submission is rejected once.
func (s *Service) reject(ctx context.Context, m jetstream.Msg, reqID string, e *Error) error {
	ev := &proto.FeedbackRejected{
		RequestID:  reqID,
		Reason:     e.Error(),
		Body:       truncateUTF8(string(m.Data()), 4096),
		RejectedAt: s.cfg.Now().UTC(),
	}
	msg, err := bus.NewMsgWith(proto.SubjectFeedbackRejected, ev, bus.TraceHeader(traceFor(ctx, reqID)))
	if err != nil {
		return fmt.Errorf("encode feedback rejection: %w", err)
	}
	if md, err := m.Metadata(); err == nil {
		msg.Header.Set(proto.HeaderMsgID, "feedback-rejected:"+strconv.FormatUint(md.Sequence.Stream, 10))
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	if _, err := s.js.PublishMsg(pctx, msg); err != nil {
		return fmt.Errorf("publish feedback rejection request_id=%s: %w", reqID, err)
	}
	s.log.InfoContext(ctx, "feedback rejected", logRequestID, reqID, "field", e.Field, "reason", e.Error())
	return nil
}

// reply answers a submission whose publisher asked for the outcome. It is best
// effort: the recorded or rejected event is the durable outcome.
func (s *Service) reply(inbox string, v any, reqID string) {
	if inbox == "" {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Warn("encode feedback reply", logRequestID, reqID, logErr, err)
		return
	}
	if err := s.js.Conn().PublishMsg(&nats.Msg{Subject: inbox, Data: b}); err != nil {
		s.log.Warn("send feedback reply", logRequestID, reqID, logSubject, inbox, logErr, err)
	}
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
