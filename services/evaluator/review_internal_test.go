package evaluator

import (
	"fmt"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/proto"
)

// reviewState is a served champion result without feedback, completed i
// seconds after t0.
func reviewState(i int) *RequestState {
	st := newState(fmt.Sprintf("req-%06d", i))
	label := proto.LabelNormal
	if i%3 == 0 {
		label = proto.LabelPneumonia
	}
	st.Results[proto.ArmChampion] = ArmResult{
		Experiment: "pneumonia", ModelName: "pneumonia-simplecnn", ModelVersion: "1", Status: proto.StatusOK,
		Label: label, Served: true, CompletedAt: time.Date(2026, 11, 28, 0, 0, i, 0, time.UTC),
		ImageKey: "bronze/images/x.png", ImageFormat: "png",
	}
	return st
}

// BenchmarkReviewQueue measures one page (50, filtered by predicted class)
// of a full queue (the default bound, 20,000 items), and the bookkeeping of
// one state transition.
func BenchmarkReviewQueue(b *testing.B) {
	const n = 20000
	x := newReviewIndex(n)
	for i := range n {
		x.observe(reviewState(i))
	}
	b.Run("page", func(b *testing.B) {
		for b.Loop() {
			page, err := x.query(ReviewQuery{Predicted: proto.LabelPneumonia})
			if err != nil || len(page.Items) != 50 {
				b.Fatalf("page %d items, %v", len(page.Items), err)
			}
		}
	})
	b.Run("observe", func(b *testing.B) {
		st := reviewState(n + 1)
		for b.Loop() {
			x.observe(st)
		}
	})
}

// TestReviewPagingVisitsEveryItemOnce pages through a queue whose items
// share completion times (ties broken by request id): every item comes
// exactly once, newest first, whatever the page size.
func TestReviewPagingVisitsEveryItemOnce(t *testing.T) {
	x := newReviewIndex(1000)
	const n = 500
	for i := range n {
		st := reviewState(i)
		r := st.Results[proto.ArmChampion]
		r.CompletedAt = time.Date(2026, 11, 28, 0, 0, (i*7919)%37, 0, time.UTC) // many ties
		st.Results[proto.ArmChampion] = r
		x.observe(st)
	}
	for _, tc := range []struct {
		limit  int
		oldest bool
	}{{1, false}, {7, false}, {50, false}, {499, false}, {500, false}, {7, true}, {500, true}} {
		limit := tc.limit
		order := newer
		if tc.oldest {
			order = func(a, b ReviewItem) int { return -newer(a, b) }
		}
		seen := map[string]bool{}
		var prev *ReviewItem
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatalf("limit %d: more pages than items", limit)
			}
			page, err := x.query(ReviewQuery{Limit: limit, Before: cursor, Oldest: tc.oldest})
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				if seen[it.RequestID] {
					t.Fatalf("limit %d: %s listed twice", limit, it.RequestID)
				}
				seen[it.RequestID] = true
				if prev != nil && order(*prev, it) >= 0 {
					t.Fatalf("limit %d oldest %v: %s after %s is out of order", limit, tc.oldest, it.RequestID, prev.RequestID)
				}
				prev = &it
			}
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
		if len(seen) != n {
			t.Fatalf("limit %d: %d items seen, want %d", limit, len(seen), n)
		}
	}
}
