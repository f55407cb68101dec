package driftstat

import (
	"github.com/healthcare-ai/platform/proto"
)

// Window is the sliding window of the latest results of one (experiment,
// arm, model version): for each, whether the prediction was positive and,
// when the result carried input statistics, the image's tensor mean and
// histogram. The pooled histogram is kept as running sums, so Add is O(bins)
// and memory is O(size * bins). It is not safe for concurrent use.
type Window struct {
	size      int
	buf       []entry
	next      int // index of the slot the next Add writes
	n         int // entries held
	positives int
	inputs    int // entries with input statistics
	pooled    [proto.InputStatsBins]int64
	threshold float64 // of the latest result
}

type entry struct {
	positive bool
	hasInput bool
	mean     float64
	hist     [proto.InputStatsBins]int32
}

// NewWindow returns an empty window of at most size results (size >= 1).
func NewWindow(size int) *Window {
	return &Window{size: max(size, 1), buf: make([]entry, max(size, 1))}
}

// Add records one result, dropping the oldest when the window is full.
// positive says whether the predicted label was the positive one;
// threshold is the decision threshold it was made at. st may be nil (a
// result without input statistics, or with statistics the caller found
// invalid or of another range): it then counts for the positive rate only.
func (w *Window) Add(positive bool, threshold float64, st *proto.InputStats) {
	if w.n == w.size {
		w.remove(&w.buf[w.next])
	} else {
		w.n++
	}
	e := entry{positive: positive}
	if st != nil && len(st.Histogram) == proto.InputStatsBins {
		e.hasInput, e.mean = true, st.Mean
		for i, c := range st.Histogram {
			e.hist[i] = int32(c)
			w.pooled[i] += int64(c)
		}
		w.inputs++
	}
	if positive {
		w.positives++
	}
	w.threshold = threshold
	w.buf[w.next] = e
	w.next = (w.next + 1) % w.size
}

func (w *Window) remove(e *entry) {
	if e.positive {
		w.positives--
	}
	if e.hasInput {
		for i, c := range e.hist {
			w.pooled[i] -= int64(c)
		}
		w.inputs--
	}
}

// Len is the number of results in the window.
func (w *Window) Len() int { return w.n }

// Inputs is the number of results in the window with input statistics.
func (w *Window) Inputs() int { return w.inputs }

// Positives is the number of positive predictions in the window.
func (w *Window) Positives() int { return w.positives }

// Threshold is the decision threshold of the latest result.
func (w *Window) Threshold() float64 { return w.threshold }

// Pooled returns the pooled input histogram (counts of tensor values).
func (w *Window) Pooled() []float64 {
	out := make([]float64, proto.InputStatsBins)
	for i, c := range w.pooled {
		out[i] = float64(c)
	}
	return out
}

// Means returns the per-image tensor means of the results with input
// statistics, oldest first.
func (w *Window) Means() []float64 {
	out := make([]float64, 0, w.inputs)
	start := (w.next - w.n + w.size) % w.size
	for k := range w.n {
		if e := &w.buf[(start+k)%w.size]; e.hasInput {
			out = append(out, e.mean)
		}
	}
	return out
}
