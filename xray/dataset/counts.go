package dataset

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Count is the number of accepted images of one split and label.
type Count struct {
	Split string `json:"split"`
	Label Label  `json:"label"`
	N     int    `json:"n"`
}

// Splits returns the splits that have images, in canonical order ("" for
// the flat layout).
func (d *Dataset) Splits() []string {
	var out []string
	for _, it := range d.Items {
		if !slices.Contains(out, it.Split) {
			out = append(out, it.Split)
		}
	}
	return out
}

// Split returns the items of one split ("" for the flat layout), in order.
func (d *Dataset) Split(name string) []Item {
	var out []Item
	for _, it := range d.Items {
		if it.Split == name {
			out = append(out, it)
		}
	}
	return out
}

// Counts returns the non-zero counts by split (canonical order) and label
// (NORMAL, PNEUMONIA, unlabeled).
func (d *Dataset) Counts() []Count {
	var out []Count
	for _, split := range d.Splits() {
		for _, l := range []Label{Normal, Pneumonia, Unlabeled} {
			n := 0
			for _, it := range d.Items {
				if it.Split == split && it.Label == l {
					n++
				}
			}
			if n > 0 {
				out = append(out, Count{Split: split, Label: l, N: n})
			}
		}
	}
	return out
}

// WriteTable writes the counts as a table with a row per split and a column
// per label, plus totals.
func (d *Dataset) WriteTable(w io.Writer) error {
	counts := d.Counts()
	labels := []Label{Normal, Pneumonia}
	if slices.ContainsFunc(counts, func(c Count) bool { return c.Label == Unlabeled }) {
		labels = append(labels, Unlabeled)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...any) {
		for _, c := range cells {
			fmt.Fprintf(tw, "%v\t", c)
		}
		fmt.Fprintln(tw)
	}
	head := []any{"split"}
	for _, l := range labels {
		head = append(head, l)
	}
	row(append(head, "total")...)
	totals := make([]int, len(labels)+1)
	for _, split := range d.Splits() {
		name := split
		if name == "" {
			name = "(none)"
		}
		cells := []any{name}
		sum := 0
		for i, l := range labels {
			n := 0
			for _, c := range counts {
				if c.Split == split && c.Label == l {
					n = c.N
				}
			}
			cells = append(cells, n)
			totals[i] += n
			sum += n
		}
		totals[len(labels)] += sum
		row(append(cells, sum)...)
	}
	cells := []any{"total"}
	for _, n := range totals {
		cells = append(cells, n)
	}
	row(cells...)
	return tw.Flush()
}

// String is the counts table followed by the number of rejects.
func (d *Dataset) String() string {
	var b strings.Builder
	_ = d.WriteTable(&b)
	fmt.Fprintf(&b, "%d rejected, %d ignored (layout %s, root %s)\n", len(d.Rejects), len(d.Ignored), d.Layout, d.Root)
	return b.String()
}
