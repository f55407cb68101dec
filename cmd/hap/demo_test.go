package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemoScenarios runs the main job's three scenarios end to end on a
// small data set: the truly better challenger is promoted and becomes the
// champion, a degraded challenger is rolled back, and a model against itself
// keeps testing. Two stages (50/50, then 100%) keep the image count small;
// the full 50 -> 70 -> 90 -> 100 rollout is the same code with more data.
func TestDemoScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end scenarios: not in -short")
	}
	if raceEnabled {
		// The race detector makes generating the X-rays about ten times
		// slower; `make test` runs this test in a second pass without it.
		t.Skip("end-to-end scenarios run without -race (make test's second pass)")
	}
	data := t.TempDir()
	for _, tc := range []struct {
		scenario string
		n        string
		want     []string
	}{
		{"promote", "300", []string{"dashboard: http://", "/dashboard#token=hap_", "PROMOTE, split 50/50 -> 100/0", "pneumonia-resnet@1 is now the champion; pneumonia-simplecnn@1 archived", "SQL model comparison (DuckDB"}},
		{"rollback", "300", []string{"ROLLBACK, split 50/50 -> 100/0", "threshold moved to 0.995"}},
		{"aa", "200", []string{"decision   KEEP_TESTING"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
			defer cancel()
			var out, errb bytes.Buffer
			args := []string{"demo", "-scenario", tc.scenario, "-n", tc.n, "-stages", "50,100", "-wave", "50",
				"-data", data, "-state", t.TempDir(), "-models", "../../models", "-http", "127.0.0.1:0", "-pace", "20ms"}
			code := Main(ctx, args, &out, &errb)
			t.Logf("hap %s\n%s", strings.Join(args, " "), out.String())
			if code != 0 {
				t.Fatalf("exit code %d: %s", code, errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q", w)
				}
			}
		})
	}
}
