package tables_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/tables"
)

func newStore(t *testing.T) blob.Store {
	t.Helper()
	d, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func feedbackRow(i int) proto.PredictionFeedbackRow {
	conf := 0.5 + float64(i%5)/10
	r := proto.PredictionFeedbackRow{
		FeedbackID:     fmt.Sprintf("fb-%04d", i),
		RequestID:      fmt.Sprintf("req-%04d", i),
		Timestamp:      time.Date(2026, 11, 28, 10, 0, i, 0, time.UTC),
		GroundTruth:    proto.LabelNormal,
		FeedbackSource: "radiologist",
		StreamSequence: int64(i),
	}
	if i%2 == 0 {
		r.GroundTruth = proto.LabelPneumonia
		r.Confidence = &conf
		r.Notes = "lower lobe"
	}
	return r
}

func TestPartKeyRoundTrip(t *testing.T) {
	p := tables.Part{Table: proto.TableInferenceLog, Date: "2026-11-28", First: 7, Last: 1234}
	want := "tables/serving/inference_log/date=2026-11-28/part-00000000000000000007-00000000000000001234.parquet"
	if p.Key() != want {
		t.Fatalf("Key() = %s, want %s", p.Key(), want)
	}
	if err := blob.ValidKey(p.Key()); err != nil {
		t.Fatal(err)
	}
	got, ok := tables.ParsePart(proto.TableInferenceLog, p.Key())
	if !ok || got != p {
		t.Fatalf("ParsePart(%s) = %+v, %v", p.Key(), got, ok)
	}
	for _, bad := range []string{
		"tables/serving/inference_log/date=2026-11-28/part-9-1.parquet", // first > last
		"tables/serving/inference_log/date=2026-11-28/part-1-2.json",
		"tables/serving/inference_log/date=2026-11/part-1-2.parquet",
		"tables/serving/inference_log/part-1-2.parquet",
		"tables/gold/prediction_feedback/date=2026-11-28/part-1-2.parquet", // other table
		"tables/serving/inference_log/date=2026-11-28/part-x-2.parquet",
	} {
		if _, ok := tables.ParsePart(proto.TableInferenceLog, bad); ok {
			t.Errorf("ParsePart(%s) accepted a key that is not a part of the table", bad)
		}
	}
}

func TestWriteReadPartKeepsEveryColumn(t *testing.T) {
	ctx := t.Context()
	store := newStore(t)
	var rows []proto.PredictionFeedbackRow
	for i := range 300 {
		rows = append(rows, feedbackRow(i))
	}
	p := tables.Part{Table: proto.TablePredictionFeedback, Date: "2026-11-28", First: 1, Last: 300}
	if err := tables.WritePart(ctx, store, p, rows); err != nil {
		t.Fatal(err)
	}
	got, err := tables.ReadPart[proto.PredictionFeedbackRow](ctx, store, p.Key())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rows) {
		t.Fatalf("read %d rows, wrote %d", len(got), len(rows))
	}
	for i := range rows {
		a, b := rows[i], got[i]
		if (a.Confidence == nil) != (b.Confidence == nil) || (a.Confidence != nil && *a.Confidence != *b.Confidence) {
			t.Fatalf("row %d: confidence %v != %v", i, a.Confidence, b.Confidence)
		}
		a.Confidence, b.Confidence = nil, nil
		if !a.Timestamp.Equal(b.Timestamp) {
			t.Fatalf("row %d: timestamp %v != %v", i, a.Timestamp, b.Timestamp)
		}
		a.Timestamp, b.Timestamp = time.Time{}, time.Time{}
		if a != b {
			t.Fatalf("row %d: %+v != %+v", i, a, b)
		}
	}
	data, err := store.Get(ctx, p.Key())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "PAR1") || !strings.HasSuffix(string(data), "PAR1") {
		t.Fatal("part is not a Parquet file (no PAR1 magic)")
	}
}

func TestCheckpoint(t *testing.T) {
	ctx := t.Context()
	store := newStore(t)
	tb := proto.TableInferenceLog
	cp, err := tables.LoadCheckpoint(ctx, store, tb)
	if err != nil || cp.LastSeq != 0 {
		t.Fatalf("checkpoint of a new table = %+v, %v; want zero", cp, err)
	}
	if err := tables.SaveCheckpoint(ctx, store, tb, tables.Checkpoint{LastSeq: 42, Rows: 40}); err != nil {
		t.Fatal(err)
	}
	cp, err = tables.LoadCheckpoint(ctx, store, tb)
	if err != nil || cp.LastSeq != 42 || cp.Rows != 40 || cp.Table != tb.Name {
		t.Fatalf("checkpoint = %+v, %v", cp, err)
	}
	// A checkpoint is outside the table folder: readers globbing the table never see it.
	parts, err := tables.ListParts(ctx, store, tb)
	if err != nil || len(parts) != 0 {
		t.Fatalf("ListParts = %v, %v; want none", parts, err)
	}
	// Corrupt checkpoint: a clear error, not a silent restart from zero.
	infos, _ := store.List(ctx, proto.TablesRoot+"/_checkpoints/")
	if len(infos) != 1 {
		t.Fatalf("checkpoint objects: %v", infos)
	}
	if err := store.Put(ctx, infos[0].Key, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := tables.LoadCheckpoint(ctx, store, tb); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("LoadCheckpoint(corrupt) err = %v, want a 'corrupt' error", err)
	}
}

// writeParts writes parts of rows numbered by sequence: each part holds the
// rows first..last.
func writeParts(t *testing.T, store blob.Store, date string, ranges ...[2]uint64) {
	t.Helper()
	for _, r := range ranges {
		var rows []proto.PredictionFeedbackRow
		for i := r[0]; i <= r[1]; i++ {
			rows = append(rows, feedbackRow(int(i)))
		}
		p := tables.Part{Table: proto.TablePredictionFeedback, Date: date, First: r[0], Last: r[1]}
		if err := tables.WritePart(t.Context(), store, p, rows); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(t *testing.T, store blob.Store) []string {
	t.Helper()
	rows, err := tables.ReadTable[proto.PredictionFeedbackRow](t.Context(), store, proto.TablePredictionFeedback)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.FeedbackID
	}
	slices.Sort(out)
	return out
}

func TestRecoverRemovesUncommittedAndMergedParts(t *testing.T) {
	ctx := t.Context()
	store := newStore(t)
	tb := proto.TablePredictionFeedback
	// Committed: 1-10, 11-20 (day 1), 21-30 (day 2). A compaction of day 1
	// wrote 1-20 but crashed before deleting its inputs. A flush of 31-40
	// wrote its day-2 part and crashed before its checkpoint.
	writeParts(t, store, "2026-11-27", [2]uint64{1, 10}, [2]uint64{11, 20}, [2]uint64{1, 20})
	writeParts(t, store, "2026-11-28", [2]uint64{21, 30}, [2]uint64{31, 40})
	if err := tables.SaveCheckpoint(ctx, store, tb, tables.Checkpoint{LastSeq: 30}); err != nil {
		t.Fatal(err)
	}
	cp, removed, err := tables.Recover(ctx, store, tb)
	if err != nil {
		t.Fatal(err)
	}
	if cp.LastSeq != 30 {
		t.Fatalf("checkpoint %d, want 30", cp.LastSeq)
	}
	var keys []string
	for _, p := range removed {
		keys = append(keys, fmt.Sprintf("%s/%d-%d", p.Date, p.First, p.Last))
	}
	slices.Sort(keys)
	want := []string{"2026-11-27/1-10", "2026-11-27/11-20", "2026-11-28/31-40"}
	if !slices.Equal(keys, want) {
		t.Fatalf("removed %v, want %v", keys, want)
	}
	got := ids(t, store)
	if len(got) != 30 || got[0] != "fb-0001" || got[29] != "fb-0030" {
		t.Fatalf("after recovery the table has %d rows (%v...), want exactly rows 1..30 once", len(got), got[:min(3, len(got))])
	}
}

func TestCompactKeepsRowsAndLeavesUncommittedParts(t *testing.T) {
	ctx := t.Context()
	store := newStore(t)
	tb := proto.TablePredictionFeedback
	writeParts(t, store, "2026-11-27", [2]uint64{1, 5}, [2]uint64{6, 9}, [2]uint64{10, 10})
	writeParts(t, store, "2026-11-28", [2]uint64{11, 20}, [2]uint64{21, 25}, [2]uint64{26, 30})
	// 26-30 is being flushed (not committed): compaction must leave it alone.
	if err := tables.SaveCheckpoint(ctx, store, tb, tables.Checkpoint{LastSeq: 25}); err != nil {
		t.Fatal(err)
	}
	before := ids(t, store)
	st, err := tables.Compact(ctx, store, tb, tables.CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after := ids(t, store); !slices.Equal(before, after) {
		t.Fatalf("compaction changed the rows: %d before, %d after", len(before), len(after))
	}
	parts, err := tables.ListParts(ctx, store, tb)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range parts {
		got = append(got, fmt.Sprintf("%s/%d-%d", p.Date, p.First, p.Last))
	}
	want := []string{"2026-11-27/1-10", "2026-11-28/11-25", "2026-11-28/26-30"}
	if !slices.Equal(got, want) {
		t.Fatalf("parts after compaction %v, want %v", got, want)
	}
	if st.PartsBefore != 6 || st.PartsAfter != 3 || st.RowsRewritten != 25 || st.Partitions != 2 {
		t.Fatalf("stats %+v", st)
	}
	// Compacting again changes nothing.
	st, err = tables.Compact(ctx, store, tb, tables.CompactOptions{})
	if err != nil || st.Partitions != 0 || st.PartsAfter != 3 {
		t.Fatalf("second compaction: %+v, %v", st, err)
	}
}

func TestCompactRespectsMaxBytes(t *testing.T) {
	ctx := t.Context()
	store := newStore(t)
	tb := proto.TablePredictionFeedback
	for i := uint64(0); i < 6; i++ {
		writeParts(t, store, "2026-11-28", [2]uint64{10*i + 1, 10*i + 10})
	}
	if err := tables.SaveCheckpoint(ctx, store, tb, tables.Checkpoint{LastSeq: 60}); err != nil {
		t.Fatal(err)
	}
	infos, _ := store.List(ctx, tb.Prefix())
	// Room for about three parts per merged file.
	st, err := tables.Compact(ctx, store, tb, tables.CompactOptions{MaxBytes: 3*infos[0].Size + infos[0].Size/2})
	if err != nil {
		t.Fatal(err)
	}
	if st.PartsAfter != 2 || len(ids(t, store)) != 60 {
		t.Fatalf("compaction with a size bound: %+v, %d rows", st, len(ids(t, store)))
	}
}

func TestLookupTable(t *testing.T) {
	for _, name := range []string{"serving.inference_log", "inference_log"} {
		if tb, err := proto.LookupTable(name); err != nil || tb != proto.TableInferenceLog {
			t.Fatalf("LookupTable(%s) = %v, %v", name, tb, err)
		}
	}
	if _, err := proto.LookupTable("gold.nope"); err == nil || !strings.Contains(err.Error(), "serving.inference_log") {
		t.Fatalf("LookupTable(unknown) err = %v, want one listing the known tables", err)
	}
}

func TestSyncMirrorsPartsAndDropsCompactedInputs(t *testing.T) {
	ctx := t.Context()
	store := newStore(t)
	tb := proto.TablePredictionFeedback
	writeParts(t, store, "2026-11-28", [2]uint64{1, 10}, [2]uint64{11, 20})
	if err := tables.SaveCheckpoint(ctx, store, tb, tables.Checkpoint{LastSeq: 20}); err != nil {
		t.Fatal(err)
	}
	mirror := t.TempDir()
	st, err := tables.Sync(ctx, store, mirror)
	if err != nil || st.Copied != 2 || st.Kept != 0 || st.Removed != 0 {
		t.Fatalf("first sync: %+v, %v", st, err)
	}
	st, err = tables.Sync(ctx, store, mirror)
	if err != nil || st.Copied != 0 || st.Kept != 2 {
		t.Fatalf("second sync: %+v, %v; want nothing downloaded again", st, err)
	}
	if _, err := tables.Compact(ctx, store, tb, tables.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err = tables.Sync(ctx, store, mirror)
	if err != nil || st.Copied != 1 || st.Removed != 2 {
		t.Fatalf("sync after compaction: %+v, %v; want the merged part copied and both inputs removed", st, err)
	}
	local, err := blob.NewDir(mirror)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(t, local); len(got) != 20 {
		t.Fatalf("mirror has %d rows, want 20", len(got))
	}
}
