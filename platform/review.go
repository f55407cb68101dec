package platform

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/evaluator"
)

// Routes of the signed-in user and the radiologist review API.
const (
	RouteWhoAmI      = "GET /v1/whoami"
	RouteReviewQueue = "GET /v1/review/queue"
	RouteReviewImage = "GET /v1/review/{request_id}/image"
)

// Problem types of the review API.
var (
	problemBadQuery    = problem.Kind{Slug: "invalid-query", Title: "Invalid query parameter", Status: http.StatusBadRequest}
	problemNoImage     = problem.Kind{Slug: "image-not-found", Title: "Image not found", Status: http.StatusNotFound}
	problemUnavailable = problem.Kind{Slug: "unavailable", Title: "Service unavailable", Status: http.StatusServiceUnavailable}
)

// whoAmI is the body of GET /v1/whoami.
type whoAmI struct {
	auth.Identity
	// Auth is "token" when the platform authenticates requests, "off" when
	// it runs without authentication (every request is anonymous, with
	// every role).
	Auth string `json:"auth"`
}

func (p *Platform) serveWhoAmI(w http.ResponseWriter, r *http.Request) {
	id, _ := auth.FromContext(r.Context())
	mode := "token"
	if p.cfg.Auth == nil {
		mode = "off"
	}
	writeJSON(w, http.StatusOK, whoAmI{Identity: id, Auth: mode})
}

// reviewItem is a review queue row as the API shows it.
type reviewItem struct {
	evaluator.ReviewItem
	ImageURL string `json:"image_url"`
}

// serveReviewQueue answers GET /v1/review/queue: served predictions without
// feedback, newest first, filtered by experiment, model and predicted class.
func (p *Platform) serveReviewQueue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query := evaluator.ReviewQuery{
		Experiment: q.Get("experiment"), Model: q.Get("model"), Predicted: q.Get("predicted"), Before: q.Get("before"),
	}
	switch o := q.Get("order"); o {
	case "", "newest":
	case "oldest":
		query.Oldest = true
	default:
		problem.Write(w, problemBadQuery.New("order", "order %q: must be newest or oldest", o))
		return
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			problem.Write(w, problemBadQuery.New("limit", "limit %q: must be a whole number between 1 and 500", s))
			return
		}
		query.Limit = n
	}
	page, err := p.Evaluator.ReviewQueue(query)
	switch {
	case errors.Is(err, evaluator.ErrNotReady):
		w.Header().Set("Retry-After", "1")
		problem.Write(w, problemUnavailable.New("", "the evaluator is loading its state"))
		return
	case err != nil:
		field, _, _ := strings.Cut(err.Error(), " ") // errors start with the parameter
		problem.Write(w, problemBadQuery.New(field, "%s", err.Error()))
		return
	}
	items := make([]reviewItem, len(page.Items))
	for i, it := range page.Items {
		items[i] = reviewItem{ReviewItem: it, ImageURL: "/v1/review/" + url.PathEscape(it.RequestID) + "/image"}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next": page.Next, "pending": page.Pending, "truncated": page.Truncated})
}

// serveReviewImage answers GET /v1/review/{request_id}/image with the
// de-identified bronze image the request's prediction was made on.
func (p *Platform) serveReviewImage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("request_id")
	view, err := p.Evaluator.Request(r.Context(), id)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		problem.Write(w, problemNoImage.New("request_id", "request_id %q: no prediction recorded", id))
		return
	case err != nil:
		w.Header().Set("Retry-After", "1")
		problem.Write(w, problemUnavailable.New("", "read request state: %v", err))
		return
	}
	var key, format string
	for _, arm := range proto.Arms {
		if res, ok := view.Results[arm]; ok && res.ImageKey != "" {
			key, format = res.ImageKey, res.ImageFormat
			break
		}
	}
	if key == "" {
		problem.Write(w, problemNoImage.New("request_id", "request_id %q: its results do not name the image (recorded before images were kept for review)", id))
		return
	}
	data, err := p.Blobs.Get(r.Context(), key)
	switch {
	case errors.Is(err, blob.ErrNotFound):
		problem.Write(w, problemNoImage.New("request_id", "request_id %q: image %s is no longer in the store", id, key))
		return
	case err != nil:
		w.Header().Set("Retry-After", "1")
		problem.Write(w, problemUnavailable.New("", "read image %s: %v", key, err))
		return
	}
	ct := "image/png"
	if format == "jpeg" {
		ct = "image/jpeg"
	}
	w.Header().Set("Content-Type", ct)
	// Patient images: kept by no cache, not even the browser's (a shared
	// reading-room computer must not show them after sign-out).
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(data)
}
