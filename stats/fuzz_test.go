package stats

import (
	"math"
	"testing"
)

// The fuzz targets check that the 2x2 functions never panic and always give
// a p-value in [0, 1], no NaN, on any counts. `go test` runs only their seed
// corpus; `make fuzz` (scripts/fuzz.sh) runs them for a bounded number of
// executions. Counts are uint16 so that Fisher's sum stays cheap per input;
// TestInvalidInput covers out-of-range counts.

func addTableSeeds(f *testing.F) {
	for _, s := range [][4]uint16{
		{0, 0, 0, 0}, {1, 0, 0, 1}, {0, 1, 1, 0}, {50, 0, 50, 0}, {0, 50, 0, 50}, {45, 5, 38, 12},
		{850, 150, 920, 80}, {3, 5, 5, 3}, {65535, 65535, 65535, 65535}, {65535, 0, 0, 65535}, {1, 65535, 65535, 1},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
}

func checkP(t *testing.T, what string, p float64) {
	t.Helper()
	if math.IsNaN(p) || p < 0 || p > 1 {
		t.Fatalf("%s: p-value %v outside [0, 1]", what, p)
	}
}

func FuzzChiSquare(f *testing.F) {
	addTableSeeds(f)
	f.Fuzz(func(t *testing.T, a, b, c, d uint16) {
		tb := Table2x2{A: int(a), B: int(b), C: int(c), D: int(d)}
		for _, yates := range []bool{false, true} {
			r, err := ChiSquare(tb, yates)
			if err != nil {
				t.Fatal(err)
			}
			checkP(t, "ChiSquare", r.PValue)
			if math.IsNaN(r.Statistic) || r.Statistic < 0 {
				t.Fatalf("statistic %v", r.Statistic)
			}
		}
	})
}

func FuzzFisherExact(f *testing.F) {
	addTableSeeds(f)
	f.Fuzz(func(t *testing.T, a, b, c, d uint16) {
		tb := Table2x2{A: int(a), B: int(b), C: int(c), D: int(d)}
		r, err := FisherExact(tb)
		if err != nil {
			t.Fatal(err)
		}
		checkP(t, "FisherExact", r.PValue)
		if math.IsNaN(r.OddsRatio) || r.OddsRatio < 0 {
			t.Fatalf("odds ratio %v", r.OddsRatio)
		}
		// Swapping the rows mirrors the table: the two-sided p-value is the same.
		s, err := FisherExact(Table2x2{A: tb.C, B: tb.D, C: tb.A, D: tb.B})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(s.PValue-r.PValue) > 1e-9*math.Max(r.PValue, 1e-300) && math.Abs(s.PValue-r.PValue) > 1e-12 {
			t.Fatalf("p %v, with rows swapped %v", r.PValue, s.PValue)
		}
	})
}

func FuzzTwoProportionZTest(f *testing.F) {
	addTableSeeds(f)
	f.Fuzz(func(t *testing.T, a, b, c, d uint16) {
		r, err := TwoProportionZTest(int(a), int(a)+int(b), int(c), int(c)+int(d))
		if err != nil {
			t.Fatal(err)
		}
		checkP(t, "TwoProportionZTest", r.PValue)
		if math.IsNaN(r.Statistic) || math.IsInf(r.Statistic, 0) {
			t.Fatalf("z %v", r.Statistic)
		}
		iv, err := Newcombe(int(a), int(a)+int(b), int(c), int(c)+int(d), 0.05)
		if err != nil {
			t.Fatal(err)
		}
		if !(iv.Lower >= -1-1e-12 && iv.Lower <= iv.Upper && iv.Upper <= 1+1e-12) {
			t.Fatalf("Newcombe %+v", iv)
		}
	})
}

func FuzzMcNemar(f *testing.F) {
	for _, s := range [][2]uint16{{0, 0}, {0, 1}, {5, 5}, {12, 13}, {24, 0}, {65535, 0}, {65535, 65535}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, b, c uint16) {
		for _, opts := range []McNemarOptions{DefaultMcNemarOptions(), {ExactBelow: math.MaxInt}, {}} {
			r, err := McNemar(int(b), int(c), opts)
			if err != nil {
				t.Fatal(err)
			}
			checkP(t, "McNemar", r.PValue)
		}
	})
}

// Invalid counts give errors, not panics or NaN.
func FuzzInvalidCounts(f *testing.F) {
	f.Add(-1, 0, 0, 0)
	f.Add(0, 0, 0, MaxCount+1)
	f.Add(math.MaxInt, math.MaxInt, 1, 1)
	f.Add(math.MinInt, 3, 4, 5)
	f.Fuzz(func(t *testing.T, a, b, c, d int) {
		tb := Table2x2{A: a, B: b, C: c, D: d}
		ok := tb.Validate() == nil
		if ok && a+b+c+d > 1<<20 {
			t.Skip("large valid tables are covered by FuzzFisherExact's range")
		}
		if r, err := ChiSquare(tb, true); (err == nil) != ok || (err == nil && (math.IsNaN(r.PValue) || r.PValue > 1)) {
			t.Fatalf("ChiSquare(%+v) = %+v, %v", tb, r, err)
		}
		if r, err := FisherExact(tb); (err == nil) != ok || (err == nil && (math.IsNaN(r.PValue) || r.PValue > 1)) {
			t.Fatalf("FisherExact(%+v) = %+v, %v", tb, r, err)
		}
		if r, err := TwoProportionZTest(a, b, c, d); err == nil {
			checkP(t, "TwoProportionZTest", r.PValue)
		}
		if r, err := McNemar(a, b, DefaultMcNemarOptions()); err == nil {
			checkP(t, "McNemar", r.PValue)
		}
		if r, err := Wilson(a, b, 0.05); err == nil && !(r.Lower >= 0 && r.Lower <= r.Upper && r.Upper <= 1) {
			t.Fatalf("Wilson(%d, %d) = %+v", a, b, r)
		}
	})
}
