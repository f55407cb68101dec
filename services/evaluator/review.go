package evaluator

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/healthcare-ai/platform/proto"
)

// ReviewItem is a served prediction that has no feedback yet: one row of the
// radiologist review queue.
type ReviewItem struct {
	RequestID    string    `json:"request_id"`
	Experiment   string    `json:"experiment"`
	Arm          string    `json:"arm"`
	ModelName    string    `json:"served_model_name"`
	ModelVersion string    `json:"model_version"`
	Label        string    `json:"label"`
	Probability  float64   `json:"probability"`
	CompletedAt  time.Time `json:"completed_at"`
	// ImageKey and ImageFormat locate the bronze image; empty for results
	// recorded before the evaluator kept them.
	ImageKey    string `json:"-"`
	ImageFormat string `json:"-"`
}

// ReviewQuery selects review items. Zero fields select everything.
type ReviewQuery struct {
	Experiment string
	Model      string // served_model_name
	Predicted  string // NORMAL or PNEUMONIA
	// Limit bounds the page (default 50, at most 500).
	Limit int
	// Before is the Next cursor of the previous page: the items after it in
	// the page order.
	Before string
	// Oldest lists the longest-waiting predictions first (a worklist);
	// the default is newest first.
	Oldest bool
}

// ReviewPage is one page of the review queue, in the query's order.
type ReviewPage struct {
	Items []ReviewItem `json:"items"`
	// Next is the cursor of the following page, empty on the last one.
	Next string `json:"next"`
	// Pending counts every item matching the query's filters (all pages).
	Pending int `json:"pending"`
	// Truncated is true when the queue holds its maximum and older
	// predictions without feedback were left out of it.
	Truncated bool `json:"truncated,omitempty"`
}

// reviewIndex keeps, in memory, the most recent served predictions without
// feedback, so that the review page lists them without scanning the state
// bucket. It is derived from the stored states (rebuilt at start) and bounded
// to max items: the oldest are dropped from the list first (their state stays
// in the bucket, and feedback on them is still counted).
type reviewIndex struct {
	mu      sync.Mutex
	max     int
	items   map[string]ReviewItem
	dropped bool
}

func newReviewIndex(max int) *reviewIndex {
	return &reviewIndex{max: max, items: map[string]ReviewItem{}}
}

// observe updates the index from a request's new state.
func (x *reviewIndex) observe(st *RequestState) {
	if x == nil || st == nil {
		return
	}
	item, ok := reviewItemOf(st)
	x.mu.Lock()
	defer x.mu.Unlock()
	if !ok {
		delete(x.items, st.RequestID)
		return
	}
	x.items[st.RequestID] = item
	if len(x.items) > x.max+x.max/10 {
		x.trimLocked()
	}
}

// reviewItemOf returns the review item of a state: its served ok result, when
// the request has no feedback at all.
func reviewItemOf(st *RequestState) (ReviewItem, bool) {
	if len(st.Feedback) > 0 {
		return ReviewItem{}, false
	}
	for _, arm := range proto.Arms {
		r, ok := st.Results[arm]
		if !ok || !r.Served || r.Status != proto.StatusOK {
			continue
		}
		at := r.CompletedAt
		if at.IsZero() {
			at = r.RoutedAt
		}
		return ReviewItem{
			RequestID: st.RequestID, Experiment: experimentOf(r), Arm: arm,
			ModelName: r.ModelName, ModelVersion: r.ModelVersion, Label: r.Label, Probability: r.Probability,
			CompletedAt: at, ImageKey: r.ImageKey, ImageFormat: r.ImageFormat,
		}, true
	}
	return ReviewItem{}, false
}

// newer orders items newest first, then by request id.
func newer(a, b ReviewItem) int {
	if c := b.CompletedAt.Compare(a.CompletedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.RequestID, b.RequestID)
}

// trimLocked drops the oldest items down to max.
func (x *reviewIndex) trimLocked() {
	all := make([]ReviewItem, 0, len(x.items))
	for _, it := range x.items {
		all = append(all, it)
	}
	slices.SortFunc(all, newer)
	for _, it := range all[x.max:] {
		delete(x.items, it.RequestID)
	}
	x.dropped = true
}

// query returns one page, newest first.
func (x *reviewIndex) query(q ReviewQuery) (ReviewPage, error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = 50
	case limit < 0 || limit > 500:
		return ReviewPage{}, fmt.Errorf("limit %d: must be between 1 and 500", limit)
	}
	if q.Predicted != "" && !proto.ValidLabel(q.Predicted) {
		return ReviewPage{}, fmt.Errorf("predicted %q: must be %s or %s", q.Predicted, proto.LabelNormal, proto.LabelPneumonia)
	}
	order := newer
	if q.Oldest {
		order = func(a, b ReviewItem) int { return -newer(a, b) }
	}
	var before *ReviewItem
	if q.Before != "" {
		b, err := decodeCursor(q.Before)
		if err != nil {
			return ReviewPage{}, err
		}
		before = &b
	}
	x.mu.Lock()
	page := ReviewPage{Items: []ReviewItem{}, Truncated: x.dropped}
	// top keeps the limit+1 newest matches in order (one more tells whether
	// a next page exists): a page costs one pass over the queue, not a sort
	// of every match.
	top := make([]ReviewItem, 0, limit+1)
	for _, it := range x.items {
		if (q.Experiment != "" && it.Experiment != q.Experiment) || (q.Model != "" && it.ModelName != q.Model) ||
			(q.Predicted != "" && it.Label != q.Predicted) {
			continue
		}
		page.Pending++
		if before != nil && order(*before, it) >= 0 {
			continue
		}
		if len(top) == limit+1 && order(it, top[limit]) >= 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(top, it, order)
		if len(top) == limit+1 {
			top = top[:limit]
		}
		top = slices.Insert(top, i, it)
	}
	x.mu.Unlock()
	if len(top) > limit {
		page.Next = encodeCursor(top[limit-1])
		top = top[:limit]
	}
	page.Items = append(page.Items, top...)
	return page, nil
}

// A cursor is the position of the last item of a page: its completion time
// and request id, base64url encoded.
func encodeCursor(it ReviewItem) string {
	return base64.RawURLEncoding.EncodeToString([]byte(it.CompletedAt.UTC().Format(time.RFC3339Nano) + " " + it.RequestID))
}

func decodeCursor(s string) (ReviewItem, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		at, id, ok := strings.Cut(string(raw), " ")
		if t, perr := time.Parse(time.RFC3339Nano, at); ok && perr == nil {
			return ReviewItem{CompletedAt: t, RequestID: id}, nil
		}
	}
	return ReviewItem{}, fmt.Errorf("before %q: not a cursor of this queue (use the next value of the previous page)", s)
}

// ReviewQueue returns a page of served predictions without feedback, newest
// first or, with Oldest, longest-waiting first (ErrNotReady before the state
// is loaded). Errors name the query
// parameter.
func (s *Service) ReviewQueue(q ReviewQuery) (ReviewPage, error) {
	select {
	case <-s.ready:
	default:
		return ReviewPage{}, ErrNotReady
	}
	return s.review.query(q)
}
