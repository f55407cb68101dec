package stats

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"
)

// golden mirrors stats/testdata/golden.json (written by make_golden.py).
type golden struct {
	Scipy       string `json:"scipy"`
	Statsmodels string `json:"statsmodels"`
	Chi2        []struct {
		Table     [2][2]int `json:"table"`
		Yates     bool      `json:"yates"`
		Statistic float64   `json:"statistic"`
		P         float64   `json:"p"`
	} `json:"chi2"`
	Fisher []struct {
		Table        [2][2]int `json:"table"`
		OddsRatio    float64   `json:"odds_ratio"`
		OddsRatioInf bool      `json:"odds_ratio_inf"`
		P            float64   `json:"p"`
	} `json:"fisher"`
	ZTest []struct {
		X1, N1, X2, N2 int
		Z, P           float64
	} `json:"ztest"`
	McNemar []struct {
		B, C      int
		Exact     bool
		Statistic float64
		P         float64
	} `json:"mcnemar"`
	Wilson []struct {
		X, N                int
		Alpha, Lower, Upper float64
	} `json:"wilson"`
	Newcombe []struct {
		X1, N1, X2, N2      int
		Alpha, Lower, Upper float64
	} `json:"newcombe"`
	Power []struct {
		P1, P2, Alpha float64
		Power         *float64 `json:"power"`
		H             float64  `json:"h"`
		N             float64  `json:"n"`
		PowerAtN      *float64 `json:"power_at_n"`
	} `json:"power"`
	Dist struct {
		NormCDF []struct{ X, V float64 } `json:"norm_cdf"`
		NormSF  []struct{ X, V float64 } `json:"norm_sf"`
		NormPPF []struct{ P, V float64 } `json:"norm_ppf"`
		Chi2SF  []struct{ X, V float64 } `json:"chi2_sf"`
		Binom   []struct {
			K, N int
			P, V float64
		} `json:"binom_pmf"`
		BinomCDF []struct {
			K, N int
			P, V float64
		} `json:"binom_cdf"`
		Hyper []struct {
			K, Total, Successes, Draws int
			V                          float64
		} `json:"hypergeom_pmf"`
	} `json:"dist"`
}

func loadGolden(tb testing.TB) golden {
	tb.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		tb.Fatalf("read golden values (regenerate with /usr/bin/python3 stats/testdata/make_golden.py): %v", err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		tb.Fatalf("decode golden.json: %v", err)
	}
	return g
}

// near reports whether got is within rel (relative) or abs (absolute) of want.
func near(got, want, rel, abs float64) bool {
	if math.IsNaN(got) {
		return false
	}
	if got == want {
		return true
	}
	d := math.Abs(got - want)
	return d <= abs || d <= rel*math.Abs(want)
}

func checkNear(tb testing.TB, what string, got, want, rel, abs float64) {
	tb.Helper()
	if !near(got, want, rel, abs) {
		tb.Errorf("%s = %.17g, want %.17g (rel err %.3g)", what, got, want, math.Abs(got-want)/math.Abs(want))
	}
}

func table(t [2][2]int) Table2x2 { return Table2x2{A: t[0][0], B: t[0][1], C: t[1][0], D: t[1][1]} }

// pTol is the relative tolerance for p-values: 1e-9, or 1e-7 for tables
// beyond 10,000 observations, where log-gamma rounding grows.
func pTol(t Table2x2) float64 {
	if t.A+t.B+t.C+t.D > 10000 {
		return 1e-7
	}
	return 1e-9
}

func TestGoldenChiSquare(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Chi2 {
		tb := table(c.Table)
		r, err := ChiSquare(tb, c.Yates)
		if err != nil {
			t.Fatalf("ChiSquare(%v, %v): %v", c.Table, c.Yates, err)
		}
		name := fmt.Sprintf("ChiSquare(%v, yates=%v)", c.Table, c.Yates)
		checkNear(t, name+".Statistic", r.Statistic, c.Statistic, 1e-10, 1e-12)
		checkNear(t, name+".PValue", r.PValue, c.P, pTol(tb), 1e-300)
		if r.DF != 1 {
			t.Errorf("%s.DF = %d, want 1", name, r.DF)
		}
	}
}

func TestGoldenFisher(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Fisher {
		tb := table(c.Table)
		r, err := FisherExact(tb)
		if err != nil {
			t.Fatalf("FisherExact(%v): %v", c.Table, err)
		}
		name := fmt.Sprintf("FisherExact(%v)", c.Table)
		checkNear(t, name+".PValue", r.PValue, c.P, pTol(tb), 1e-300)
		if c.OddsRatioInf {
			if !math.IsInf(r.OddsRatio, 1) {
				t.Errorf("%s.OddsRatio = %v, want +Inf", name, r.OddsRatio)
			}
		} else {
			checkNear(t, name+".OddsRatio", r.OddsRatio, c.OddsRatio, 1e-12, 0)
		}
	}
}

func TestGoldenZTest(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.ZTest {
		r, err := TwoProportionZTest(c.X1, c.N1, c.X2, c.N2)
		if err != nil {
			t.Fatalf("TwoProportionZTest(%d, %d, %d, %d): %v", c.X1, c.N1, c.X2, c.N2, err)
		}
		name := fmt.Sprintf("TwoProportionZTest(%d/%d vs %d/%d)", c.X1, c.N1, c.X2, c.N2)
		checkNear(t, name+".Statistic", r.Statistic, c.Z, 1e-10, 1e-12)
		checkNear(t, name+".PValue", r.PValue, c.P, 1e-9, 1e-300)
	}
}

func TestGoldenMcNemar(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.McNemar {
		opts := McNemarOptions{ExactBelow: 0, Correction: true}
		if c.Exact {
			opts.ExactBelow = math.MaxInt
		}
		r, err := McNemar(c.B, c.C, opts)
		if err != nil {
			t.Fatalf("McNemar(%d, %d): %v", c.B, c.C, err)
		}
		name := fmt.Sprintf("McNemar(%d, %d, exact=%v)", c.B, c.C, c.Exact)
		if r.Exact != c.Exact {
			t.Errorf("%s.Exact = %v", name, r.Exact)
		}
		checkNear(t, name+".Statistic", r.Statistic, c.Statistic, 1e-12, 1e-12)
		checkNear(t, name+".PValue", r.PValue, c.P, 1e-9, 1e-300)
	}
}

func TestGoldenWilson(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Wilson {
		r, err := Wilson(c.X, c.N, c.Alpha)
		if err != nil {
			t.Fatalf("Wilson(%d, %d, %v): %v", c.X, c.N, c.Alpha, err)
		}
		name := fmt.Sprintf("Wilson(%d, %d, %v)", c.X, c.N, c.Alpha)
		checkNear(t, name+".Lower", r.Lower, math.Max(c.Lower, 0), 1e-12, 1e-14)
		checkNear(t, name+".Upper", r.Upper, math.Min(c.Upper, 1), 1e-12, 1e-14)
	}
	for _, c := range g.Newcombe {
		r, err := Newcombe(c.X1, c.N1, c.X2, c.N2, c.Alpha)
		if err != nil {
			t.Fatalf("Newcombe: %v", err)
		}
		name := fmt.Sprintf("Newcombe(%d/%d - %d/%d, %v)", c.X1, c.N1, c.X2, c.N2, c.Alpha)
		checkNear(t, name+".Lower", r.Lower, c.Lower, 1e-11, 1e-14)
		checkNear(t, name+".Upper", r.Upper, c.Upper, 1e-11, 1e-14)
	}
}

func TestGoldenPower(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Power {
		checkNear(t, fmt.Sprintf("CohenH(%v, %v)", c.P1, c.P2), CohenH(c.P1, c.P2), c.H, 1e-13, 1e-15)
		if c.PowerAtN != nil {
			p, err := PowerTwoProportions(c.P1, c.P2, c.N, c.Alpha)
			if err != nil {
				t.Fatal(err)
			}
			checkNear(t, fmt.Sprintf("PowerTwoProportions(%v, %v, n=%v)", c.P1, c.P2, c.N), p, *c.PowerAtN, 1e-10, 1e-14)
			continue
		}
		n, err := SampleSizeTwoProportions(c.P1, c.P2, c.Alpha, *c.Power)
		if err != nil {
			t.Fatal(err)
		}
		// statsmodels solves numerically; its answer is good to ~1e-8.
		checkNear(t, fmt.Sprintf("SampleSizeTwoProportions(%v, %v, %v, %v)", c.P1, c.P2, c.Alpha, *c.Power), n, c.N, 1e-7, 0)
	}
}

func TestGoldenDistributions(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Dist.NormCDF {
		checkNear(t, fmt.Sprintf("NormalCDF(%v)", c.X), NormalCDF(c.X), c.V, 1e-13, 1e-300)
	}
	for _, c := range g.Dist.NormSF {
		checkNear(t, fmt.Sprintf("NormalSF(%v)", c.X), NormalSF(c.X), c.V, 1e-13, 1e-300)
	}
	for _, c := range g.Dist.NormPPF {
		checkNear(t, fmt.Sprintf("NormalQuantile(%v)", c.P), NormalQuantile(c.P), c.V, 1e-13, 1e-15)
	}
	for _, c := range g.Dist.Chi2SF {
		checkNear(t, fmt.Sprintf("ChiSquare1SF(%v)", c.X), ChiSquare1SF(c.X), c.V, 1e-13, 1e-300)
	}
	for _, c := range g.Dist.Binom {
		checkNear(t, fmt.Sprintf("BinomialPMF(%d, %d, %v)", c.K, c.N, c.P), BinomialPMF(c.K, c.N, c.P), c.V, 1e-11, 1e-300)
	}
	for _, c := range g.Dist.BinomCDF {
		checkNear(t, fmt.Sprintf("BinomialCDF(%d, %d, %v)", c.K, c.N, c.P), BinomialCDF(c.K, c.N, c.P), c.V, 1e-11, 1e-300)
	}
	for _, c := range g.Dist.Hyper {
		checkNear(t, fmt.Sprintf("HypergeometricPMF(%d, %d, %d, %d)", c.K, c.Total, c.Successes, c.Draws),
			HypergeometricPMF(c.K, c.Total, c.Successes, c.Draws), c.V, 1e-11, 1e-300)
	}
}
