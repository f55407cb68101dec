package feedback

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/feedback/client"
	"github.com/healthcare-ai/platform/trace"
)

// Sources stamped on recorded feedback when the submission names none.
const (
	SourceAPI  = "api"
	SourceNATS = "nats"
)

// kind classifies an error once; the table below maps it to the HTTP status,
// the problem type and the ack decision of the NATS path.
type kind int

const (
	kindInvalid kind = iota + 1
	kindTooLarge
	kindMediaType
	kindMethod
	kindUnavailable
	kindInternal
)

var kinds = map[kind]struct {
	status    int
	typ       string
	title     string
	permanent bool // redelivery cannot fix it: reject and terminate
}{
	kindInvalid:     {http.StatusBadRequest, client.ProblemInvalid, "invalid feedback", true},
	kindTooLarge:    {http.StatusRequestEntityTooLarge, client.ProblemTooLarge, "feedback too large", true},
	kindMediaType:   {http.StatusUnsupportedMediaType, client.ProblemMediaType, "unsupported media type", true},
	kindMethod:      {http.StatusMethodNotAllowed, client.ProblemMethod, "method not allowed", true},
	kindUnavailable: {http.StatusServiceUnavailable, client.ProblemUnavailable, "feedback store unavailable", false},
	kindInternal:    {http.StatusInternalServerError, client.ProblemInternal, "internal error", false},
}

// Error is a classified submission error naming the offending field.
type Error struct {
	kind  kind
	Field string
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether the submission itself is at fault.
func (e *Error) Permanent() bool { return kinds[e.kind].permanent }

// Problem renders the error as problem details.
func (e *Error) Problem(requestID string) *client.Problem {
	k := kinds[e.kind]
	return &client.Problem{Type: k.typ, Title: k.title, Status: k.status, Detail: e.Err.Error(), Field: e.Field, RequestID: requestID}
}

func invalid(field string, format string, args ...any) *Error {
	return &Error{kind: kindInvalid, Field: field, Err: fmt.Errorf(format, args...)}
}

// asError classifies any error (unclassified ones are internal).
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{kind: kindInternal, Err: err}
}

// parseSubmission decodes one JSON submission strictly: exactly one object, no
// unknown fields, fields of the right type.
func parseSubmission(raw []byte) (*proto.FeedbackSubmission, error) {
	var sub proto.FeedbackSubmission
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, invalid("body", "body: required (a JSON feedback object)")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sub); err != nil {
		return &sub, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &sub, invalid("body", "body: unexpected data after the JSON object")
	}
	return &sub, nil
}

// jsonError names the field of a decoding error where encoding/json allows.
func jsonError(err error) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return invalid("body", "body: malformed JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalid("body", "body: must be a JSON object, got %s", typ.Value)
		}
		return invalid(typ.Field, "%s: must be a %s, got %s", typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("body", "body: truncated JSON")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if f, uerr := strconv.Unquote(name); uerr == nil {
			name = f
		}
		return invalid(name, "%s: unknown field (accepted: request_id, feedback_type, ground_truth, radiologist_id, confidence, notes, feedback_id, source, schema_version)", name)
	}
	return invalid("body", "body: %v", err)
}

// fieldOf extracts the field that a proto.FeedbackSubmission.Normalize error
// names: its message starts with the field name ("confidence 1.5: ...",
// "request_id: required").
func fieldOf(err error) string {
	msg := err.Error()
	if i := strings.IndexAny(msg, " :"); i > 0 {
		return msg[:i]
	}
	return "body"
}

// validate normalizes a decoded submission and returns its ground truth and
// feedback_id. defaultSource fills an empty source.
func validate(sub *proto.FeedbackSubmission, defaultSource string) (groundTruth string, err error) {
	if sub.SchemaVersion > proto.SchemaVersion {
		return "", invalid("schema_version", "schema_version %d: newer than supported %d", sub.SchemaVersion, proto.SchemaVersion)
	}
	gt, nerr := sub.Normalize()
	if nerr != nil {
		return "", &Error{kind: kindInvalid, Field: fieldOf(nerr), Err: nerr}
	}
	sub.RadiologistID = strings.TrimSpace(sub.RadiologistID)
	sub.Source = strings.TrimSpace(sub.Source)
	if sub.Source == "" {
		sub.Source = defaultSource
	}
	if err := proto.ValidToken(sub.Source); err != nil {
		return "", invalid("source", "source %q: %v", sub.Source, err)
	}
	sub.FeedbackID = strings.TrimSpace(sub.FeedbackID)
	if sub.FeedbackID == "" {
		sub.FeedbackID = DeriveFeedbackID(*sub, gt)
	} else if err := proto.ValidToken(sub.FeedbackID); err != nil {
		return "", invalid("feedback_id", "feedback_id %q: %v", sub.FeedbackID, err)
	}
	return gt, nil
}

// DeriveFeedbackID returns the deterministic feedback_id of a normalized
// submission without one: "fb-" and the first 24 hex digits (96 bits) of the
// SHA-256 of the JSON array ["hap-feedback/1", request_id, radiologist_id,
// feedback_type, ground_truth, notes, confidence]. The same feedback submitted
// twice gets the same id; any differing field gives a different one.
func DeriveFeedbackID(sub proto.FeedbackSubmission, groundTruth string) string {
	conf := ""
	if sub.Confidence != nil {
		conf = strconv.FormatFloat(*sub.Confidence, 'g', -1, 64)
	}
	key, _ := json.Marshal([]string{"hap-feedback/1", sub.RequestID, sub.RadiologistID, sub.FeedbackType, groundTruth, sub.Notes, conf})
	sum := sha256.Sum256(key)
	return "fb-" + hex.EncodeToString(sum[:])[:24]
}

// record publishes the recorded event of a validated submission and waits for
// JetStream's acknowledgement.
func (s *Service) record(ctx context.Context, sub *proto.FeedbackSubmission, gt string, tp trace.Parent) (*client.Receipt, error) {
	ev := &proto.FeedbackRecorded{
		FeedbackID:    sub.FeedbackID,
		RequestID:     sub.RequestID,
		FeedbackType:  sub.FeedbackType,
		GroundTruth:   gt,
		RadiologistID: sub.RadiologistID,
		Confidence:    sub.Confidence,
		Notes:         sub.Notes,
		Source:        sub.Source,
		RecordedAt:    s.cfg.Now().UTC(),
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	ack, err := bus.PublishWith(pctx, s.js, proto.SubjectFeedbackRecorded, ev, bus.TraceHeader(tp))
	if err != nil {
		return nil, &Error{kind: kindUnavailable, Err: fmt.Errorf("record feedback %s: %w", ev.FeedbackID, err)}
	}
	return &client.Receipt{FeedbackID: ev.FeedbackID, RequestID: ev.RequestID, GroundTruth: gt, Duplicate: ack.Duplicate}, nil
}

// submit runs the whole path shared by HTTP and NATS: parse, validate, record.
// It returns the (possibly partial) submission for logging and rejection
// events.
//
// signedIn is the id of the authenticated user who sent it over HTTP (empty
// on NATS, or with authentication off): the feedback is recorded under that
// id, and a different radiologist_id in the body is refused.
func (s *Service) submit(ctx context.Context, raw []byte, defaultSource, signedIn string) (*client.Receipt, *proto.FeedbackSubmission, error) {
	if int64(len(raw)) > s.cfg.MaxBodyBytes {
		return nil, nil, &Error{kind: kindTooLarge, Field: "body", Err: fmt.Errorf("body: %d bytes, larger than the limit of %d", len(raw), s.cfg.MaxBodyBytes)}
	}
	sub, err := parseSubmission(raw)
	if err != nil {
		return nil, sub, err
	}
	if signedIn != "" {
		if given := strings.TrimSpace(sub.RadiologistID); given != "" && given != signedIn {
			return nil, sub, invalid("radiologist_id", "radiologist_id %q: you are signed in as %q and feedback is recorded under your sign-in; leave radiologist_id out", given, signedIn)
		}
		sub.RadiologistID = signedIn
	}
	gt, err := validate(sub, defaultSource)
	if err != nil {
		return nil, sub, err
	}
	tp := traceFor(ctx, sub.RequestID)
	rec, err := s.record(ctx, sub, gt, tp)
	if err != nil {
		return nil, sub, err
	}
	s.log.InfoContext(ctx, "feedback recorded", logRequestID, rec.RequestID, logTraceID, tp.TraceID.String(), logFeedbackID, rec.FeedbackID,
		logGroundTruth, rec.GroundTruth, "source", sub.Source, "duplicate", rec.Duplicate)
	return rec, sub, nil
}
