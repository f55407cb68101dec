package sequential

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/healthcare-ai/platform/stats"
)

// golden holds the sequential sections of stats/testdata/golden.json: an
// independent Python implementation of the same formulas.
type golden struct {
	MSPRT []struct {
		XA, NA, XB, NB            int
		Tau, Alpha                float64
		Estimate, Variance, LogLR float64
		Lower, Upper              float64
	} `json:"msprt"`
	Paired []struct {
		OnlyA                     int `json:"only_a"`
		OnlyB                     int `json:"only_b"`
		Pairs                     int `json:"pairs"`
		Estimate, Variance, LogLR float64
		Lower, Upper              float64
	} `json:"paired"`
	Discordant []struct {
		OnlyA        int     `json:"only_a"`
		OnlyB        int     `json:"only_b"`
		PriorSD      float64 `json:"prior_sd"`
		Alpha, LogLR float64
		Lower, Upper float64
	} `json:"discordant"`
}

func loadGolden(tb testing.TB) golden {
	tb.Helper()
	b, err := os.ReadFile("../testdata/golden.json")
	if err != nil {
		tb.Fatalf("read golden values (regenerate with /usr/bin/python3 stats/testdata/make_golden.py): %v", err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		tb.Fatalf("decode golden.json: %v", err)
	}
	return g
}

func checkNear(tb testing.TB, what string, got, want, tol float64) {
	tb.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol*math.Max(1, math.Abs(want)) {
		tb.Errorf("%s = %.17g, want %.17g", what, got, want)
	}
}

func TestGoldenTwoProportions(t *testing.T) {
	for _, c := range loadGolden(t).MSPRT {
		l, err := TwoProportions(c.XA, c.NA, c.XB, c.NB, Config{Alpha: c.Alpha, Tau: c.Tau})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("TwoProportions(%d/%d, %d/%d, tau=%v)", c.XA, c.NA, c.XB, c.NB, c.Tau)
		checkNear(t, name+".Estimate", l.Estimate, c.Estimate, 1e-13)
		checkNear(t, name+".Variance", l.Variance, c.Variance, 1e-13)
		checkNear(t, name+".LogLR", l.LogLR, c.LogLR, 1e-11)
		checkNear(t, name+".Lower", l.Lower, c.Lower, 1e-12)
		checkNear(t, name+".Upper", l.Upper, c.Upper, 1e-12)
		checkNear(t, name+".PValue", l.PValue, math.Min(1, math.Exp(-c.LogLR)), 1e-11)
	}
}

func TestGoldenPaired(t *testing.T) {
	for _, c := range loadGolden(t).Paired {
		l, err := Paired(c.OnlyA, c.OnlyB, c.Pairs, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("Paired(%d, %d, %d)", c.OnlyA, c.OnlyB, c.Pairs)
		checkNear(t, name+".Estimate", l.Estimate, c.Estimate, 1e-13)
		checkNear(t, name+".Variance", l.Variance, c.Variance, 1e-13)
		checkNear(t, name+".LogLR", l.LogLR, c.LogLR, 1e-11)
		checkNear(t, name+".Lower", l.Lower, c.Lower, 1e-12)
		checkNear(t, name+".Upper", l.Upper, c.Upper, 1e-12)
	}
}

func TestGoldenDiscordant(t *testing.T) {
	for _, c := range loadGolden(t).Discordant {
		l, err := Discordant(c.OnlyA, c.OnlyB, c.PriorSD, c.Alpha)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("Discordant(%d, %d, sd=%v)", c.OnlyA, c.OnlyB, c.PriorSD)
		checkNear(t, name+".LogLR", l.LogLR, c.LogLR, 1e-11)
		checkNear(t, name+".Lower", l.Lower, c.Lower, 1e-12)
		checkNear(t, name+".Upper", l.Upper, c.Upper, 1e-12)
	}
}

// The p-value is at most alpha exactly when the null lies outside the
// interval of the same look: the test and the confidence sequence agree.
func TestTestAndIntervalAgree(t *testing.T) {
	cfg := DefaultConfig()
	for _, xb := range []int{400, 420, 430, 440, 450, 460, 470} {
		l, err := TwoProportions(425, 500, xb, 500, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := l.PValue <= cfg.Alpha, !(l.Lower <= 0 && 0 <= l.Upper); got != want {
			t.Errorf("xB=%d: p=%v but interval [%v, %v]", xb, l.PValue, l.Lower, l.Upper)
		}
	}
	for _, c := range []int{5, 10, 15, 20, 25, 30} {
		l, err := Discordant(10, c, 0.3, 0.05)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := l.PValue <= 0.05, !(l.Lower <= 0.5 && 0.5 <= l.Upper); got != want {
			t.Errorf("Discordant(10, %d): p=%v but interval [%v, %v]", c, l.PValue, l.Lower, l.Upper)
		}
	}
}

func TestDegenerate(t *testing.T) {
	cfg := DefaultConfig()
	cases := []struct {
		name string
		run  func() (Look, error)
	}{
		{"empty arm A", func() (Look, error) { return TwoProportions(0, 0, 5, 10, cfg) }},
		{"both empty", func() (Look, error) { return TwoProportions(0, 0, 0, 0, cfg) }},
		{"both 100%", func() (Look, error) { return TwoProportions(50, 50, 50, 50, cfg) }},
		{"both 0%", func() (Look, error) { return TwoProportions(0, 50, 0, 50, cfg) }},
		{"no pairs", func() (Look, error) { return Paired(0, 0, 0, cfg) }},
		{"no discordant pairs", func() (Look, error) { return Paired(0, 0, 200, cfg) }},
		{"no discordant (exact)", func() (Look, error) { return Discordant(0, 0, 0.3, 0.05) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := c.run()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []float64{l.Estimate, l.Variance, l.Z, l.LogLR, l.PValue, l.Lower, l.Upper} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("look %+v has a non-finite field", l)
				}
			}
			if l.PValue != 1 {
				t.Errorf("p = %v, want 1 (no evidence)", l.PValue)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	cfg := DefaultConfig()
	for name, err := range map[string]error{
		"xA > nA":     second(TwoProportions(5, 4, 1, 1, cfg)),
		"negative":    second(TwoProportions(-1, 4, 1, 1, cfg)),
		"alpha 0":     second(TwoProportions(1, 4, 1, 1, Config{Alpha: 0, Tau: 0.05})),
		"tau 0":       second(TwoProportions(1, 4, 1, 1, Config{Alpha: 0.05})),
		"pairs short": second(Paired(3, 3, 5, cfg)),
		"prior sd 1":  second(Discordant(3, 3, 1, 0.05)),
		"variance 0":  second(Normal(0.1, 0, 0, cfg)),
	} {
		if !errors.Is(err, stats.ErrInvalidInput) {
			t.Errorf("%s: err = %v, want ErrInvalidInput", name, err)
		}
	}
}

func second(_ Look, err error) error { return err }

func TestRunningMonotone(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cfg := DefaultConfig()
	var r Running
	xa, na, xb, nb := 0, 0, 0, 0
	prevP := 1.0
	prevLo, prevHi := -1.0, 1.0
	for i := 0; i < 3000; i++ {
		if rng.IntN(2) == 0 {
			na++
			if rng.Float64() < 0.85 {
				xa++
			}
		} else {
			nb++
			if rng.Float64() < 0.85 {
				xb++
			}
		}
		l, err := TwoProportions(xa, na, xb, nb, cfg)
		if err != nil {
			t.Fatal(err)
		}
		r = r.Update(l)
		if r.PValue > prevP || r.Lower < prevLo || r.Upper > prevHi {
			t.Fatalf("look %d: running summary %+v widened from p=%v [%v, %v]", i, r, prevP, prevLo, prevHi)
		}
		prevP, prevLo, prevHi = r.PValue, r.Lower, r.Upper
	}
	if r.Looks != 3000 {
		t.Errorf("Looks = %d", r.Looks)
	}
}

func TestTauForSampleSize(t *testing.T) {
	cfg := DefaultConfig()
	sigma2 := 0.85*0.15 + 0.92*0.08
	tau := TauForSampleSize(sigma2, 650, cfg.Alpha)
	if math.Abs(tau-0.05) > 0.002 {
		t.Errorf("TauForSampleSize(%.4f, 650) = %v, want about 0.05", sigma2, tau)
	}
	// The radius relative to the standard error is smallest at that n.
	rel := func(n float64) float64 {
		v := sigma2 / n
		return Radius(v, Config{Alpha: cfg.Alpha, Tau: tau}) / math.Sqrt(v)
	}
	if !(rel(650) < rel(400) && rel(650) < rel(1000)) {
		t.Errorf("radius/se not minimal at n=650: %v %v %v", rel(400), rel(650), rel(1000))
	}
}

func TestSampleSizeToDetect(t *testing.T) {
	cfg := DefaultConfig()
	sigma2 := 0.2
	n := SampleSizeToDetect(0.07, sigma2, cfg)
	if r := Radius(sigma2/n, cfg); math.Abs(r-0.07) > 1e-6 {
		t.Errorf("radius at n=%v is %v, want 0.07", n, r)
	}
	if !math.IsInf(SampleSizeToDetect(0, sigma2, cfg), 1) {
		t.Error("zero effect should need +Inf observations")
	}
}

// Under the null, the always-valid p-value of the exact discordant test
// crosses alpha in at most alpha of the runs even when checked after every
// pair (Ville's inequality; checked here on 1000 runs of 500 pairs).
func TestDiscordantNullCrossing(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const runs, pairs = 1000, 500
	crossed := 0
	for range runs {
		b, c := 0, 0
		for range pairs {
			if rng.IntN(2) == 0 {
				b++
			} else {
				c++
			}
			l, err := Discordant(b, c, 0.3, 0.05)
			if err != nil {
				t.Fatal(err)
			}
			if l.PValue <= 0.05 {
				crossed++
				break
			}
		}
	}
	rate := float64(crossed) / runs
	se := math.Sqrt(0.05 * 0.95 / runs)
	t.Logf("exact discordant test under the null: crossed alpha=0.05 in %d of %d runs (%.4f)", crossed, runs, rate)
	if rate > 0.05+3*se {
		t.Errorf("null crossing rate %.4f exceeds alpha + 3 se", rate)
	}
}
