package tables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/proto"
)

// WritePart encodes rows as Parquet and stores them as part p. The store's Put
// is atomic, so readers see the whole file or none of it; writing the same
// part again replaces it.
func WritePart[T any](ctx context.Context, store blob.Store, p Part, rows []T) error {
	data, err := encode(rows)
	if err != nil {
		return fmt.Errorf("table %s part %s: %w", p.Table.Name, p.Key(), err)
	}
	if err := store.Put(ctx, p.Key(), data); err != nil {
		return fmt.Errorf("table %s: write part: %w", p.Table.Name, err)
	}
	return nil
}

// ReadPart returns the rows of the Parquet object at key.
func ReadPart[T any](ctx context.Context, store blob.Store, key string) ([]T, error) {
	data, err := store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	rows, err := decode[T](data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return rows, nil
}

// ReadTable returns every row of table t, part by part in (date, sequence)
// order. Meant for tests and small tables; analysts use SQL. A part listed
// but gone when read was removed meanwhile by a writer's recovery (it was
// never committed) or a compaction (its rows are in the merged part); it is
// skipped, as a reader listing the folder again would not see it.
func ReadTable[T any](ctx context.Context, store blob.Store, t proto.Table) ([]T, error) {
	parts, err := ListParts(ctx, store, t)
	if err != nil {
		return nil, err
	}
	var all []T
	for _, p := range parts {
		rows, err := ReadPart[T](ctx, store, p.Key())
		if errors.Is(err, blob.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		all = append(all, rows...)
	}
	return all, nil
}

// ListParts returns the parts of table t sorted by date, then first sequence.
// Objects in the table's folder that are not parts are ignored.
func ListParts(ctx context.Context, store blob.Store, t proto.Table) ([]Part, error) {
	infos, err := store.List(ctx, t.Prefix())
	if err != nil {
		return nil, fmt.Errorf("table %s: list parts: %w", t.Name, err)
	}
	parts := make([]Part, 0, len(infos))
	for _, info := range infos {
		if p, ok := ParsePart(t, info.Key); ok {
			parts = append(parts, p)
		}
	}
	slices.SortFunc(parts, comparePart)
	return parts, nil
}

func comparePart(a, b Part) int {
	if a.Date != b.Date {
		if a.Date < b.Date {
			return -1
		}
		return 1
	}
	switch {
	case a.First != b.First:
		return cmpUint(a.First, b.First)
	default:
		return cmpUint(b.Last, a.Last) // the wider part first
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Checkpoint records that every message of the table's consumer with a
// stream sequence up to LastSeq is durably in the table (or was
// dead-lettered). It is written after the parts of a flush and before the
// messages are acknowledged.
type Checkpoint struct {
	Table     string    `json:"table"`
	LastSeq   uint64    `json:"last_seq"`
	Rows      int64     `json:"rows"` // rows written so far (informational)
	UpdatedAt time.Time `json:"updated_at"`
}

// LoadCheckpoint returns the table's checkpoint; a table never written has the
// zero checkpoint.
func LoadCheckpoint(ctx context.Context, store blob.Store, t proto.Table) (Checkpoint, error) {
	data, err := store.Get(ctx, checkpointKey(t))
	if errors.Is(err, blob.ErrNotFound) {
		return Checkpoint{Table: t.Name}, nil
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("table %s: load checkpoint: %w", t.Name, err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return Checkpoint{}, fmt.Errorf("table %s: checkpoint %s is corrupt: %w", t.Name, checkpointKey(t), err)
	}
	if cp.Table != t.Name {
		return Checkpoint{}, fmt.Errorf("table %s: checkpoint %s belongs to table %q", t.Name, checkpointKey(t), cp.Table)
	}
	return cp, nil
}

// SaveCheckpoint stores cp for table t.
func SaveCheckpoint(ctx context.Context, store blob.Store, t proto.Table, cp Checkpoint) error {
	cp.Table = t.Name
	data, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("table %s: encode checkpoint: %w", t.Name, err)
	}
	if err := store.Put(ctx, checkpointKey(t), data); err != nil {
		return fmt.Errorf("table %s: save checkpoint: %w", t.Name, err)
	}
	return nil
}

// Recover makes table t consistent after an interrupted writer or compaction
// and returns its checkpoint and the parts it removed:
//   - a part whose first sequence is past the checkpoint was written by a flush
//     that did not commit; its messages were not acknowledged and will be
//     written again, so the part is removed (otherwise its rows would be
//     duplicated);
//   - a part whose range is covered by another part of the same partition was
//     merged by a compaction that did not finish deleting its inputs.
//
// Run it before a writer starts consuming, with no other writer running for
// the table.
func Recover(ctx context.Context, store blob.Store, t proto.Table) (Checkpoint, []Part, error) {
	cp, err := LoadCheckpoint(ctx, store, t)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	parts, err := ListParts(ctx, store, t)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	var removed []Part
	for i, p := range parts {
		if p.First > cp.LastSeq || coveredByOther(parts, i) {
			if err := store.Delete(ctx, p.Key()); err != nil {
				return Checkpoint{}, removed, fmt.Errorf("table %s: recover: %w", t.Name, err)
			}
			removed = append(removed, p)
		}
	}
	return cp, removed, nil
}

// coveredByOther reports whether parts[i] is covered by another committed
// part of the same partition (parts sorted by comparePart: the widest part of
// a given first sequence comes first).
func coveredByOther(parts []Part, i int) bool {
	p := parts[i]
	for j, q := range parts {
		if j == i || q.Date != p.Date {
			continue
		}
		if q.Covers(p) && (q.First != p.First || q.Last != p.Last) {
			return true
		}
	}
	return false
}
