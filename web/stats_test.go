package web

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/healthcare-ai/platform/stats"
)

// TestStatsJSMatchesGo runs static/stats.js under node and checks its
// Wilson intervals against package stats.
func TestStatsJSMatchesGo(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is required (scripts/setup.sh installs npm)")
		}
		t.Skip("node not installed: run scripts/setup.sh")
	}
	cases := [][2]int{{0, 0}, {0, 1}, {1, 1}, {0, 10}, {10, 10}, {5, 10}, {85, 100}, {95, 100}, {1, 3}, {17, 1000}, {999, 1000}, {123456, 200000}}
	// Node treats .mjs as an ES module wherever it is.
	dir := t.TempDir()
	src, err := os.ReadFile("static/stats.js")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stats.mjs"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(cases)
	script := `import { wilson, clinical } from './stats.mjs';
const cases = ` + string(in) + `;
const out = cases.map(([x, n]) => wilson(x, n));
const c = clinical({ tp: 40, fp: 5, tn: 45, fn: 10 });
console.log(JSON.stringify({ wilson: out, accuracy: c.accuracy, sensitivity: c.sensitivity, specificity: c.specificity }));`
	if err := os.WriteFile(filepath.Join(dir, "run.mjs"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), node, "run.mjs")
	cmd.Dir = dir
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	type iv struct{ Lower, Upper, Value float64 }
	var got struct {
		Wilson                             []iv
		Accuracy, Sensitivity, Specificity iv
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }
	for i, c := range cases {
		want, err := stats.Wilson(c[0], c[1], 0.05)
		if err != nil {
			t.Fatal(err)
		}
		if g := got.Wilson[i]; !near(g.Lower, want.Lower) || !near(g.Upper, want.Upper) {
			t.Errorf("wilson(%d, %d): JS [%.15f, %.15f], Go [%.15f, %.15f]", c[0], c[1], g.Lower, g.Upper, want.Lower, want.Upper)
		}
	}
	for name, tc := range map[string]struct {
		got  iv
		x, n int
	}{"accuracy": {got.Accuracy, 85, 100}, "sensitivity": {got.Sensitivity, 40, 50}, "specificity": {got.Specificity, 45, 50}} {
		want, _ := stats.Wilson(tc.x, tc.n, 0.05)
		if !near(tc.got.Value, float64(tc.x)/float64(tc.n)) || !near(tc.got.Lower, want.Lower) || !near(tc.got.Upper, want.Upper) {
			t.Errorf("clinical %s: JS %+v, Go %d/%d %+v", name, tc.got, tc.x, tc.n, want)
		}
	}
}
