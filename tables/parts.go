package tables

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/healthcare-ai/platform/proto"
)

// A Part is one Parquet file of a table: the rows of one partition built from
// the stream messages with sequences First..Last (inclusive). Every file is
// immutable once written; a compaction replaces several parts of a partition
// by one whose range covers theirs.
type Part struct {
	Table proto.Table
	Date  string // partition value, YYYY-MM-DD
	First uint64
	Last  uint64
}

// Key is the blob-store key of the part:
// tables/<layer>/<table>/date=<date>/part-<first>-<last>.parquet, sequences
// zero-padded to 20 digits so that keys sort by sequence.
func (p Part) Key() string {
	return fmt.Sprintf("%sdate=%s/part-%020d-%020d.parquet", p.Table.Prefix(), p.Date, p.First, p.Last)
}

// Covers reports whether p's sequence range contains q's.
func (p Part) Covers(q Part) bool { return p.First <= q.First && q.Last <= p.Last }

// ParsePart parses a part key of table t. ok is false for any other object
// (the checkpoint, stray files), which table code ignores.
func ParsePart(t proto.Table, key string) (Part, bool) {
	rest, ok := strings.CutPrefix(key, t.Prefix()+"date=")
	if !ok {
		return Part{}, false
	}
	date, file, ok := strings.Cut(rest, "/")
	if !ok || len(date) != len("2006-01-02") {
		return Part{}, false
	}
	name, ok := strings.CutSuffix(file, ".parquet")
	if !ok {
		return Part{}, false
	}
	name, ok = strings.CutPrefix(name, "part-")
	if !ok {
		return Part{}, false
	}
	a, b, ok := strings.Cut(name, "-")
	if !ok {
		return Part{}, false
	}
	first, err1 := strconv.ParseUint(a, 10, 64)
	last, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || first > last {
		return Part{}, false
	}
	return Part{Table: t, Date: date, First: first, Last: last}, true
}

// checkpointKey is where the writer records the last stream sequence whose
// rows are durably in the table. It is outside the table's folder so that
// readers globbing tables/<layer>/<table>/**/*.parquet never see it.
func checkpointKey(t proto.Table) string {
	return proto.TablesRoot + "/_checkpoints/" + t.Layer + "." + t.Table + ".json"
}
