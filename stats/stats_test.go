package stats

import (
	"errors"
	"math"
	"testing"
)

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Degenerate tables give the documented "no evidence" answers, never NaN.
func TestDegenerateTables(t *testing.T) {
	cases := []struct {
		name string
		t    Table2x2
	}{
		{"empty table", Table2x2{}},
		{"empty first arm", Table2x2{C: 40, D: 10}},
		{"empty second arm", Table2x2{A: 40, B: 10}},
		{"both arms 100% correct", Table2x2{A: 50, C: 70}},
		{"both arms 0% correct", Table2x2{B: 50, D: 70}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, yates := range []bool{false, true} {
				r, err := ChiSquare(c.t, yates)
				if err != nil {
					t.Fatal(err)
				}
				if r.Statistic != 0 || r.PValue != 1 || r.DF != 1 {
					t.Errorf("ChiSquare(yates=%v) = %+v, want statistic 0, p 1", yates, r)
				}
			}
			f, err := FisherExact(c.t)
			if err != nil {
				t.Fatal(err)
			}
			if f.PValue != 1 || f.OddsRatio != 1 {
				t.Errorf("FisherExact = %+v, want p 1, odds ratio 1", f)
			}
			z, err := TwoProportionZTest(c.t.A, c.t.A+c.t.B, c.t.C, c.t.C+c.t.D)
			if err != nil {
				t.Fatal(err)
			}
			if z.Statistic != 0 || z.PValue != 1 {
				t.Errorf("TwoProportionZTest = %+v, want z 0, p 1", z)
			}
			iv, err := Newcombe(c.t.A, c.t.A+c.t.B, c.t.C, c.t.C+c.t.D, 0.05)
			if err != nil {
				t.Fatal(err)
			}
			if !finite(iv.Lower) || !finite(iv.Upper) || iv.Lower > iv.Upper {
				t.Errorf("Newcombe = %+v", iv)
			}
		})
	}
}

func TestZeroOffDiagonalOddsRatio(t *testing.T) {
	f, err := FisherExact(Table2x2{A: 5, B: 0, C: 0, D: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(f.OddsRatio, 1) {
		t.Errorf("odds ratio = %v, want +Inf (as SciPy)", f.OddsRatio)
	}
}

func TestMcNemarDefaults(t *testing.T) {
	opts := DefaultMcNemarOptions()
	r, err := McNemar(3, 15, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Exact {
		t.Error("18 discordant pairs should use the exact test")
	}
	r, err = McNemar(10, 30, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Exact {
		t.Error("40 discordant pairs should use the chi-square test")
	}
	r, err = McNemar(0, 0, opts)
	if err != nil || r.PValue != 1 || r.Statistic != 0 {
		t.Errorf("McNemar(0, 0) = %+v, %v; want statistic 0, p 1", r, err)
	}
}

func TestWilsonEmpty(t *testing.T) {
	iv, err := Wilson(0, 0, 0.05)
	if err != nil || iv != (Interval{0, 1}) {
		t.Errorf("Wilson(0, 0) = %+v, %v; want [0, 1]", iv, err)
	}
}

func TestInvalidInput(t *testing.T) {
	_, e1 := ChiSquare(Table2x2{A: -1}, false)
	_, e2 := FisherExact(Table2x2{D: MaxCount + 1})
	_, e3 := TwoProportionZTest(5, 4, 1, 1)
	_, e4 := McNemar(-2, 3, DefaultMcNemarOptions())
	_, e5 := Wilson(1, 2, 1.5)
	_, e6 := Newcombe(1, 2, 3, 2, 0.05)
	_, e7 := PowerTwoProportions(0.5, 1.2, 10, 0.05)
	_, e8 := SampleSizeTwoProportions(0.5, 0.6, 0.05, 0.01)
	for i, err := range []error{e1, e2, e3, e4, e5, e6, e7, e8} {
		if !errors.Is(err, ErrInvalidInput) {
			t.Errorf("case %d: err = %v, want ErrInvalidInput", i+1, err)
		}
	}
	if _, err := SampleSizeTwoProportions(0.85, 0.85, 0.05, 0.8); !errors.Is(err, ErrNoEffect) {
		t.Errorf("equal proportions: err = %v, want ErrNoEffect", err)
	}
	if _, err := ChiSquare(Table2x2{A: -1}, false); err == nil || err.Error() != "invalid input: cell A -1: must not be negative" {
		t.Errorf("error text = %q", err)
	}
}

func TestPowerEdges(t *testing.T) {
	p, err := PowerTwoProportions(0.85, 0.85, 500, 0.05)
	if err != nil || math.Abs(p-0.05) > 1e-15 {
		t.Errorf("power with no effect = %v, %v; want alpha", p, err)
	}
	p, err = PowerTwoProportions(0.85, 0.92, 0, 0.05)
	if err != nil || math.Abs(p-0.05) > 1e-15 {
		t.Errorf("power with n=0 = %v, %v; want alpha", p, err)
	}
	n, err := SampleSizeTwoProportions(0.85, 0.92, 0.05, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	p, _ = PowerTwoProportions(0.85, 0.92, n, 0.05)
	if math.Abs(p-0.8) > 1e-9 {
		t.Errorf("power at the solved n = %v, want 0.8", p)
	}
}

func TestNormalQuantileRoundTrip(t *testing.T) {
	for _, p := range []float64{1e-300, 1e-200, 1e-50, 1e-15, 1e-8, 0.001, 0.01, 0.2, 0.5, 0.8, 0.99, 0.999999} {
		x := NormalQuantile(p)
		got := NormalCDF(x)
		if math.Abs(got-p) > 1e-13*p {
			t.Errorf("NormalCDF(NormalQuantile(%g)) = %g", p, got)
		}
	}
	if !math.IsInf(NormalQuantile(0), -1) || !math.IsInf(NormalQuantile(1), 1) || !math.IsNaN(NormalQuantile(2)) {
		t.Error("NormalQuantile edges")
	}
}

// Fisher's test on a large table stays fast and agrees with the chi-square
// test in the large-sample limit.
func TestFisherLargeTable(t *testing.T) {
	tb := Table2x2{A: 2_000_000, B: 300_000, C: 2_001_000, D: 299_000}
	f, err := FisherExact(tb)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ChiSquare(tb, true)
	if math.Abs(f.PValue-c.PValue) > 0.01 {
		t.Errorf("Fisher p %v vs chi-square p %v", f.PValue, c.PValue)
	}
}

func BenchmarkFisherExact(b *testing.B) {
	for b.Loop() {
		_, _ = FisherExact(Table2x2{A: 850, B: 150, C: 920, D: 80})
	}
}
