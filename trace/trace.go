// Package trace makes, parses and validates W3C Trace Context traceparent
// values (https://www.w3.org/TR/trace-context/), which the platform carries
// from the HTTP request that brought an image in, through every NATS event of
// its request (header proto.HeaderTraceParent), to the radiologist's feedback.
//
// A traceparent is "00-<trace id: 32 hex>-<span id: 16 hex>-<flags: 2 hex>",
// lowercase. Every hop keeps the trace id and publishes its own span id
// (Parent.Child), so one trace id finds every message and log line of a
// request. The package has no dependencies and no global state besides the
// crypto/rand source.
package trace

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// TraceID identifies a trace: 16 bytes, not all zero.
type TraceID [16]byte

// SpanID identifies a span (one hop): 8 bytes, not all zero.
type SpanID [8]byte

func (t TraceID) String() string { return hex.EncodeToString(t[:]) }
func (s SpanID) String() string  { return hex.EncodeToString(s[:]) }

// IsValid reports whether t is not all zero.
func (t TraceID) IsValid() bool { return t != TraceID{} }

// IsValid reports whether s is not all zero.
func (s SpanID) IsValid() bool { return s != SpanID{} }

// FlagSampled is the sampled bit of the trace flags.
const FlagSampled byte = 0x01

// Parent is a parsed traceparent. The zero value is invalid.
type Parent struct {
	TraceID TraceID
	SpanID  SpanID
	Flags   byte
}

// IsValid reports whether both ids are set.
func (p Parent) IsValid() bool { return p.TraceID.IsValid() && p.SpanID.IsValid() }

// String renders p as a version 00 traceparent value.
func (p Parent) String() string {
	b := make([]byte, 0, Len)
	b = append(b, "00-"...)
	b = hex.AppendEncode(b, p.TraceID[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, p.SpanID[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, []byte{p.Flags})
	return string(b)
}

// Len is the length of a version 00 traceparent.
const Len = 55

// ErrMalformed is wrapped by every Parse error.
var ErrMalformed = errors.New("malformed traceparent")

// Parse parses a traceparent value. It accepts version 00 exactly as the
// specification writes it (55 characters, lowercase hex, ids not all zero)
// and, as the specification asks of a parser, a higher version (not ff) whose
// first four fields have the version 00 layout, followed by nothing or by
// "-" and more fields.
func Parse(s string) (Parent, error) {
	bad := func(why string) (Parent, error) {
		if len(s) > 64 {
			s = s[:64] + "..."
		}
		return Parent{}, fmt.Errorf("%w %q: %s", ErrMalformed, s, why)
	}
	if len(s) < Len {
		return bad("shorter than 55 characters")
	}
	if s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return bad("fields must be separated by '-' at 2, 35 and 52")
	}
	var version [1]byte
	if !decodeLower(version[:], s[0:2]) {
		return bad("version: must be 2 lowercase hex digits")
	}
	switch {
	case version[0] == 0xff:
		return bad("version ff is invalid")
	case version[0] == 0 && len(s) != Len:
		return bad("version 00 must be exactly 55 characters")
	case version[0] != 0 && len(s) > Len && s[Len] != '-':
		return bad("fields after the flags must start with '-'")
	}
	var p Parent
	if !decodeLower(p.TraceID[:], s[3:35]) {
		return bad("trace id: must be 32 lowercase hex digits")
	}
	if !decodeLower(p.SpanID[:], s[36:52]) {
		return bad("parent id: must be 16 lowercase hex digits")
	}
	var flags [1]byte
	if !decodeLower(flags[:], s[53:55]) {
		return bad("flags: must be 2 lowercase hex digits")
	}
	p.Flags = flags[0]
	if !p.TraceID.IsValid() {
		return bad("trace id is all zero")
	}
	if !p.SpanID.IsValid() {
		return bad("parent id is all zero")
	}
	return p, nil
}

// decodeLower decodes lowercase hex src into dst (len(src) == 2*len(dst)).
func decodeLower(dst []byte, src string) bool {
	for i := range dst {
		hi, ok1 := nibble(src[2*i])
		lo, ok2 := nibble(src[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func nibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// New starts a trace: random trace and span ids, sampled.
func New() Parent {
	var p Parent
	for !p.TraceID.IsValid() {
		_, _ = rand.Read(p.TraceID[:])
	}
	p.SpanID = newSpanID()
	p.Flags = FlagSampled
	return p
}

// Child returns the traceparent a hop publishes: the same trace id and flags,
// a new span id.
func (p Parent) Child() Parent {
	p.SpanID = newSpanID()
	return p
}

func newSpanID() SpanID {
	var s SpanID
	for !s.IsValid() {
		_, _ = rand.Read(s[:])
	}
	return s
}

// FromRequestID derives a deterministic traceparent from a request id: the
// trace id is the first 16 bytes, the span id the next 8, of
// SHA-256("hap-trace/1\x00" + request_id), sampled. A hop that receives no
// traceparent (an older event, feedback from a client that sends none) uses
// it, so the request is still found under one trace id.
func FromRequestID(requestID string) Parent {
	sum := sha256.Sum256([]byte("hap-trace/1\x00" + requestID))
	var p Parent
	copy(p.TraceID[:], sum[:16])
	copy(p.SpanID[:], sum[16:24])
	if !p.TraceID.IsValid() {
		p.TraceID[15] = 1
	}
	if !p.SpanID.IsValid() {
		p.SpanID[7] = 1
	}
	p.Flags = FlagSampled
	return p
}

// Or returns the traceparent in value when it is valid, else the one derived
// from requestID (FromRequestID).
func Or(value, requestID string) Parent {
	if p, err := Parse(value); err == nil {
		return p
	}
	return FromRequestID(requestID)
}

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Parent) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the traceparent ctx carries, if any valid one.
func FromContext(ctx context.Context) (Parent, bool) {
	p, ok := ctx.Value(ctxKey{}).(Parent)
	return p, ok && p.IsValid()
}
