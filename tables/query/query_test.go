package query_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/tables"
	"github.com/healthcare-ai/platform/tables/query"
)

var t0 = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

func write[T any](t *testing.T, store blob.Store, tb proto.Table, date string, first uint64, rows []T) {
	t.Helper()
	p := tables.Part{Table: tb, Date: date, First: first, Last: first + uint64(len(rows))}
	if err := tables.WritePart(context.Background(), store, p, rows); err != nil {
		t.Fatal(err)
	}
}

func res(id, arm, label string, status int, at time.Time, seq int64) proto.InferenceLogRow {
	return proto.InferenceLogRow{RequestID: id, Arm: arm, Experiment: "pneumonia", Served: true, ServedModelName: "m-" + arm,
		ModelVersion: "1", ConfiguredSplit: "50/50", StatusCode: int32(status), PredictedLabel: label,
		CompletedAt: at, RoutedAt: at, TimestampMS: at.UnixMilli(), StreamSequence: seq}
}

func fb(id, req, truth, source string, at time.Time) proto.PredictionFeedbackRow {
	return proto.PredictionFeedbackRow{FeedbackID: id, RequestID: req, GroundTruth: truth, FeedbackSource: source, Timestamp: at}
}

const (
	P = proto.LabelPneumonia
	N = proto.LabelNormal
)

func TestModelComparisonFollowsTheEvaluatorPolicy(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	store, err := blob.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	day2 := t0.Add(24 * time.Hour)
	write(t, store, proto.TableInferenceLog, "2026-11-28", 1, []proto.InferenceLogRow{
		res("r1", "champion", P, 200, t0, 1),
		res("r2", "champion", N, 200, t0, 2),
		res("r3", "champion", P, 200, t0, 3),
		res("r4", "challenger", P, 200, t0, 4),
		res("r5", "challenger", N, 200, t0, 5),
		res("r6", "challenger", "", 400, t0, 6), // error result: not a prediction
	})
	write(t, store, proto.TableInferenceLog, "2026-11-29", 10, []proto.InferenceLogRow{
		res("r7", "challenger", N, 200, day2, 10),
		res("r7", "challenger", N, 200, day2, 11), // duplicate delivery: counted once
	})
	write(t, store, proto.TablePredictionFeedback, "2026-11-28", 1, []proto.PredictionFeedbackRow{
		fb("f1", "r1", P, "radiologist", t0.Add(time.Hour)),              // r1 TP
		fb("f2", "r2", P, "radiologist", t0.Add(time.Hour)),              // r2: FN, then ...
		fb("f3", "r2", N, "radiologist", t0.Add(2*time.Hour)),            // ... latest says NORMAL: TN
		fb("f4", "r3", N, "radiologist", t0.Add(3*time.Hour)),            // r3 would be FP, but ...
		fb("f5", "r3", P, "adjudication", t0.Add(2*time.Hour)),           // ... adjudication wins even if older: TP
		fb("f6", "r4", N, "radiologist", t0.Add(time.Hour)),              // r4 FP
		fb("f6", "r4", P, "radiologist", t0.Add(5*time.Hour)),            // same feedback_id again: the earliest counts
		fb("f7", "r5", P, "radiologist", t0.Add(time.Hour)),              // r5 FN
		fb("f8", "unknown-request", P, "radiologist", t0.Add(time.Hour)), // no prediction: not joined
	})
	db, err := query.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	text, err := query.SQLFile(query.Reports["comparison"])
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.Query(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, row := range r.Rows {
		m := map[string]any{}
		for i, c := range r.Columns {
			m[c] = row[i]
		}
		got[fmt.Sprint(m["arm"])] = fmt.Sprintf("pred=%v err=%v fb=%v tp=%v fp=%v tn=%v fn=%v acc=%v",
			m["predictions"], m["errors"], m["feedback"], m["tp"], m["fp"], m["tn"], m["fn"], m["accuracy"])
	}
	want := map[string]string{
		"champion":   "pred=3 err=0 fb=3 tp=2 fp=0 tn=1 fn=0 acc=1",
		"challenger": "pred=3 err=1 fb=2 tp=0 fp=1 tn=0 fn=1 acc=0",
	}
	for arm, w := range want {
		if got[arm] != w {
			t.Errorf("%s: %s\n want %s", arm, got[arm], w)
		}
	}
	// The daily report splits by the partition date of the prediction.
	text, _ = query.SQLFile(query.Reports["daily"])
	r, err = db.Query(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 3 {
		t.Fatalf("daily report: %d rows, want 3 (two arms on day 1, challenger on day 2): %v", len(r.Rows), r.Rows)
	}
}

func TestEmptyTablesQueryToNoRows(t *testing.T) {
	ctx := t.Context()
	db, err := query.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, file := range query.Reports {
		text, _ := query.SQLFile(file)
		r, err := db.Query(ctx, text)
		if err != nil {
			t.Fatalf("%s on empty tables: %v", name, err)
		}
		if len(r.Rows) != 0 {
			t.Fatalf("%s on empty tables: %d rows", name, len(r.Rows))
		}
	}
	r, err := db.Query(ctx, "SELECT count(*) AS n, count(date) AS d FROM xray_images")
	if err != nil || len(r.Rows) != 1 {
		t.Fatalf("count over an empty table: %v, %v", r, err)
	}
}

func TestQueryErrors(t *testing.T) {
	ctx := t.Context()
	if _, err := query.Open(ctx, "/nonexistent/hap"); err == nil {
		t.Fatal("Open of a missing folder succeeded")
	}
	db, err := query.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Query(ctx, "  -- only a comment\n ; "); err == nil {
		t.Fatal("empty SQL accepted")
	}
	if _, err := db.Query(ctx, "SELECT nope FROM inference_log"); err == nil {
		t.Fatal("bad column accepted")
	}
	r, err := db.Query(ctx, "SELECT 'a;b' AS s; -- trailing ; comment\nSELECT 2 AS two")
	if err != nil || len(r.Rows) != 1 || fmt.Sprint(r.Rows[0][0]) != "2" {
		t.Fatalf("multi-statement query: %v, %v", r, err)
	}
}
