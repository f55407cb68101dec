package tables

import (
	"context"
	"fmt"
	"slices"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/proto"
)

// merger re-encodes the rows of several parts of one table as one file.
type merger interface {
	merge(ctx context.Context, store blob.Store, keys []string) (data []byte, rows int, err error)
}

type mergerOf[T any] struct{}

func (mergerOf[T]) merge(ctx context.Context, store blob.Store, keys []string) ([]byte, int, error) {
	var all []T
	for _, k := range keys {
		rows, err := ReadPart[T](ctx, store, k)
		if err != nil {
			return nil, 0, err
		}
		all = append(all, rows...)
	}
	data, err := encode(all)
	return data, len(all), err
}

// mergers knows the row type of every table.
var mergers = map[string]merger{
	proto.TableXRayImages.Name:          mergerOf[proto.XRayImageRow]{},
	proto.TableInferenceLog.Name:        mergerOf[proto.InferenceLogRow]{},
	proto.TablePredictionFeedback.Name:  mergerOf[proto.PredictionFeedbackRow]{},
	proto.TableModelPerformance.Name:    mergerOf[proto.ModelPerformanceRow]{},
	proto.TableExperimentDecisions.Name: mergerOf[proto.ExperimentDecisionRow]{},
}

// CompactOptions bound a compaction.
type CompactOptions struct {
	// MinParts is the least number of parts in a partition worth merging
	// (default 2).
	MinParts int
	// MaxBytes stops adding parts to a merged file once their total size
	// reaches it (default 256 MiB), so that no file grows without bound.
	MaxBytes int64
}

// CompactStats reports what a compaction did.
type CompactStats struct {
	Table          string `json:"table"`
	Partitions     int    `json:"partitions_compacted"`
	PartsBefore    int    `json:"parts_before"`
	PartsAfter     int    `json:"parts_after"`
	RowsRewritten  int    `json:"rows_rewritten"`
	BytesBefore    int64  `json:"bytes_before"`
	BytesRewritten int64  `json:"bytes_rewritten"`
}

// Compact merges the small committed parts of each partition of table t into
// larger ones without changing the table's rows: a run of consecutive parts
// (by sequence) becomes one part named by the run's first and last sequence,
// written before its inputs are deleted. A compaction interrupted between the
// two leaves parts covered by the merged one; Recover (run by the writer on
// start) and the next Compact delete them. Parts past the checkpoint belong to
// a flush in progress and are left alone, so Compact may run while the writer
// runs.
func Compact(ctx context.Context, store blob.Store, t proto.Table, opt CompactOptions) (CompactStats, error) {
	if opt.MinParts < 2 {
		opt.MinParts = 2
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 256 << 20
	}
	m, ok := mergers[t.Name]
	if !ok {
		return CompactStats{}, fmt.Errorf("compact: no row type for table %s", t.Name)
	}
	st := CompactStats{Table: t.Name}
	cp, err := LoadCheckpoint(ctx, store, t)
	if err != nil {
		return st, err
	}
	infos, err := store.List(ctx, t.Prefix())
	if err != nil {
		return st, fmt.Errorf("compact %s: list: %w", t.Name, err)
	}
	size := map[string]int64{}
	var parts []Part
	for _, info := range infos {
		if p, ok := ParsePart(t, info.Key); ok {
			parts = append(parts, p)
			size[info.Key] = info.Size
		}
	}
	slices.SortFunc(parts, comparePart)
	st.PartsBefore = len(parts)
	// Leftovers of an interrupted compaction first.
	var live []Part
	for i, p := range parts {
		if p.Last <= cp.LastSeq && coveredByOther(parts, i) {
			if err := store.Delete(ctx, p.Key()); err != nil {
				return st, fmt.Errorf("compact %s: %w", t.Name, err)
			}
			continue
		}
		live = append(live, p)
	}
	st.PartsAfter = len(live)
	for _, group := range groups(live, cp.LastSeq, size, opt) {
		keys := make([]string, len(group))
		var before int64
		for i, p := range group {
			keys[i] = p.Key()
			before += size[keys[i]]
		}
		data, rows, err := m.merge(ctx, store, keys)
		if err != nil {
			return st, fmt.Errorf("compact %s: %w", t.Name, err)
		}
		merged := Part{Table: t, Date: group[0].Date, First: group[0].First, Last: group[len(group)-1].Last}
		if err := store.Put(ctx, merged.Key(), data); err != nil {
			return st, fmt.Errorf("compact %s: write merged part: %w", t.Name, err)
		}
		for _, k := range keys {
			if err := store.Delete(ctx, k); err != nil {
				return st, fmt.Errorf("compact %s: delete merged input (the next compaction or writer start removes it): %w", t.Name, err)
			}
		}
		st.Partitions++
		st.PartsAfter -= len(group) - 1
		st.RowsRewritten += rows
		st.BytesBefore += before
		st.BytesRewritten += int64(len(data))
	}
	return st, nil
}

// groups splits the committed parts of each partition into runs worth
// merging: at least opt.MinParts parts whose total size stays under
// opt.MaxBytes. Parts past the checkpoint are never included.
func groups(parts []Part, committed uint64, size map[string]int64, opt CompactOptions) [][]Part {
	var out [][]Part
	var run []Part
	var runBytes int64
	flush := func() {
		if len(run) >= opt.MinParts {
			out = append(out, run)
		}
		run, runBytes = nil, 0
	}
	for _, p := range parts {
		if p.Last > committed {
			flush()
			continue
		}
		if len(run) > 0 && (run[0].Date != p.Date || runBytes+size[p.Key()] > opt.MaxBytes) {
			flush()
		}
		run = append(run, p)
		runBytes += size[p.Key()]
	}
	flush()
	return out
}
