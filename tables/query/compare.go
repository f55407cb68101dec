package query

import (
	"context"
	"fmt"
	"strings"

	"github.com/healthcare-ai/platform/proto"
)

// ArmSummary is one row of the comparison report (sql/model_comparison.sql).
type ArmSummary struct {
	Experiment  string
	Arm         string
	Models      string
	Predictions int64
	Errors      int64
	Served      int64
	Feedback    int64
	Confusion   proto.Confusion
}

// Comparison runs the comparison report and returns its rows.
func (d *DB) Comparison(ctx context.Context) ([]ArmSummary, error) {
	text, err := SQLFile(Reports["comparison"])
	if err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, strings.TrimSpace(text))
	if err != nil {
		return nil, fmt.Errorf("query: comparison: %w", err)
	}
	defer rows.Close()
	var out []ArmSummary
	for rows.Next() {
		var s ArmSummary
		var tp, fp, tn, fn int64
		var cov, acc, sens, spec any
		if err := rows.Scan(&s.Experiment, &s.Arm, &s.Models, &s.Predictions, &s.Errors, &s.Served, &s.Feedback,
			&tp, &fp, &tn, &fn, &cov, &acc, &sens, &spec); err != nil {
			return nil, fmt.Errorf("query: comparison: %w", err)
		}
		s.Confusion = proto.Confusion{TP: int(tp), FP: int(fp), TN: int(tn), FN: int(fn)}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query: comparison: %w", err)
	}
	return out, nil
}

// CheckAgainst compares the SQL comparison of one experiment with the
// evaluator's live snapshot of it and describes every difference in counts
// (predictions, errors, served, feedback, confusion matrix). nil means the
// tables and the live metrics agree.
func CheckAgainst(sql []ArmSummary, live proto.MetricsSnapshot) error {
	byArm := map[string]ArmSummary{}
	for _, s := range sql {
		if s.Experiment == live.Experiment {
			byArm[s.Arm] = s
		}
	}
	var diffs []string
	for _, m := range live.Models {
		s, ok := byArm[m.Arm]
		if !ok {
			if m.Predictions+m.Errors > 0 {
				diffs = append(diffs, fmt.Sprintf("%s: no rows in the tables, live has %d predictions", m.Arm, m.Predictions))
			}
			continue
		}
		delete(byArm, m.Arm)
		check := func(what string, sqlN int64, liveN int) {
			if sqlN != int64(liveN) {
				diffs = append(diffs, fmt.Sprintf("%s %s: tables %d, live %d", m.Arm, what, sqlN, liveN))
			}
		}
		check("predictions", s.Predictions, m.Predictions)
		check("errors", s.Errors, m.Errors)
		check("served", s.Served, m.Served)
		check("feedback", s.Feedback, m.Feedback)
		check("TP", int64(s.Confusion.TP), m.Confusion.TP)
		check("FP", int64(s.Confusion.FP), m.Confusion.FP)
		check("TN", int64(s.Confusion.TN), m.Confusion.TN)
		check("FN", int64(s.Confusion.FN), m.Confusion.FN)
	}
	for arm, s := range byArm {
		diffs = append(diffs, fmt.Sprintf("%s: %d predictions in the tables, none live", arm, s.Predictions))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("tables and live metrics of %s differ: %s", live.Experiment, strings.Join(diffs, "; "))
	}
	return nil
}
