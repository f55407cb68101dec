// Package problem writes HTTP error bodies as RFC 9457 problem details
// (application/problem+json): a stable type URI per kind of error, a short
// title, the status, a detail naming the input and what is wrong with it, and
// the offending field.
//
// A Kind is the stable part (type URI, title, status); Kind.New makes a
// *Problem, which is also an error, so code deep in a handler can return it
// and the handler writes it with Write:
//
//	var KindBadShape = problem.Kind{Slug: "invalid-tensor-shape", Title: "Invalid tensor shape", Status: 400}
//	return KindBadShape.New("inputs[0].shape", "shape %v: want [N 1 64 64]", shape)
//	...
//	problem.Write(w, problem.From(err))
//
// The package depends on the standard library only, so any service can use it.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ContentType is the media type of a problem body.
const ContentType = "application/problem+json"

// BaseURI prefixes every type URI: the type of the kind with slug
// "invalid-tensor-shape" is BaseURI + "invalid-tensor-shape". The URIs are
// identifiers (stable, compared as strings), not necessarily resolvable.
const BaseURI = "https://healthcare-ai.example/problems/"

// Type returns the type URI of a slug.
func Type(slug string) string { return BaseURI + slug }

// Problem is one problem details body. *Problem implements error.
type Problem struct {
	// Type identifies the kind of problem (a URI under BaseURI).
	Type string `json:"type"`
	// Title is the short, stable summary of the kind.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence: the input and what is wrong with it.
	Detail string `json:"detail,omitempty"`
	// Field names the offending input ("inputs[0].shape",
	// "dataframe_records[2].image_path", "Content-Type"); empty when the
	// problem is not about one field.
	Field string `json:"field,omitempty"`
	// Instance identifies the occurrence (RFC 9457 "instance"), when set.
	Instance string `json:"instance,omitempty"`
	// RequestID is the request id the server gave the request, when it had
	// one (an extension member).
	RequestID string `json:"request_id,omitempty"`
}

// Error renders "<title> (<status>): <detail>".
func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d)", p.Title, p.Status)
	if p.Detail != "" {
		b.WriteString(": ")
		b.WriteString(p.Detail)
	}
	return b.String()
}

// Slug returns the last path segment of the type URI ("invalid-tensor-shape").
func (p *Problem) Slug() string { return strings.TrimPrefix(p.Type, BaseURI) }

// Temporary reports whether the same request may succeed later (5xx or 429).
func (p *Problem) Temporary() bool {
	return p.Status >= 500 || p.Status == http.StatusTooManyRequests
}

// Kind is a kind of problem: its slug (the last segment of its type URI), its
// title and its HTTP status. Kinds are values; declare them once per package.
type Kind struct {
	Slug   string
	Title  string
	Status int
}

// Type returns the kind's type URI.
func (k Kind) Type() string { return Type(k.Slug) }

// New returns a problem of this kind about field, with a detail formatted
// from format and args.
func (k Kind) New(field, format string, args ...any) *Problem {
	return &Problem{Type: k.Type(), Title: k.Title, Status: k.Status, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// Is reports whether err is (or wraps) a *Problem of this kind.
func (k Kind) Is(err error) bool {
	var p *Problem
	return errors.As(err, &p) && p.Type == k.Type()
}

// Generic kinds every HTTP API meets.
var (
	InvalidJSON          = Kind{Slug: "invalid-json", Title: "Malformed JSON body", Status: http.StatusBadRequest}
	InvalidRequest       = Kind{Slug: "invalid-request", Title: "Invalid request", Status: http.StatusBadRequest}
	BodyTooLarge         = Kind{Slug: "body-too-large", Title: "Request body too large", Status: http.StatusRequestEntityTooLarge}
	UnsupportedMediaType = Kind{Slug: "unsupported-media-type", Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType}
	MethodNotAllowed     = Kind{Slug: "method-not-allowed", Title: "Method not allowed", Status: http.StatusMethodNotAllowed}
	NotFound             = Kind{Slug: "not-found", Title: "Not found", Status: http.StatusNotFound}
	Unavailable          = Kind{Slug: "unavailable", Title: "Service unavailable", Status: http.StatusServiceUnavailable}
	Internal             = Kind{Slug: "internal", Title: "Internal error", Status: http.StatusInternalServerError}
)

// From returns the *Problem in err's chain, or an Internal problem whose
// detail is err's message when there is none. From(nil) is nil.
func From(err error) *Problem {
	if err == nil {
		return nil
	}
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	return Internal.New("", "%v", err)
}

// Write writes p with its status and the problem content type. It sets
// Cache-Control: no-store and, for 503, Retry-After: 5 unless the caller set
// one.
func Write(w http.ResponseWriter, p *Problem) {
	if p == nil {
		p = Internal.New("", "no problem given")
	}
	if p.Status < 400 || p.Status > 599 {
		p.Status = http.StatusInternalServerError
	}
	b, err := json.Marshal(p)
	if err != nil { // cannot happen: only strings and an int
		b = []byte(`{"type":"` + Internal.Type() + `","title":"Internal error","status":500}`)
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if p.Status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", "5")
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(b, '\n'))
}
