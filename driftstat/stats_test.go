package driftstat

import (
	"math"
	"testing"

	"github.com/healthcare-ai/platform/proto"
)

func near(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*max(1e-300, math.Abs(want))
}

// Reference values from SciPy 1.10.1 (/usr/bin/python3, Debian 12):
//
//	import numpy as np
//	def psi(e, a, eps=1e-4):
//	    e = np.array(e, float); a = np.array(a, float); e /= e.sum(); a /= a.sum()
//	    e = np.maximum(e, eps); a = np.maximum(a, eps)
//	    return float(np.sum((a - e) * np.log(a / e)))
//	psi([0.1, 0.2, 0.3, 0.4], [0.25] * 4)      # 0.22821740957339184
//	psi([0.5, 0.5, 0], [0.5, 0.25, 0.25])       # 2.1285158932529735
//	psi([10, 20, 30, 40], [1, 1, 1, 1])         # 0.22821740957339184 (counts normalised)
func TestPSI(t *testing.T) {
	cases := []struct {
		e, a []float64
		want float64
	}{
		{[]float64{0.1, 0.2, 0.3, 0.4}, []float64{0.25, 0.25, 0.25, 0.25}, 0.22821740957339184},
		{[]float64{0.5, 0.5, 0}, []float64{0.5, 0.25, 0.25}, 2.1285158932529735},
		{[]float64{10, 20, 30, 40}, []float64{1, 1, 1, 1}, 0.22821740957339184},
		{[]float64{3, 1, 0}, []float64{6, 2, 0}, 0},
	}
	for _, c := range cases {
		got, err := PSI(c.e, c.a)
		if err != nil || !near(got, c.want, 1e-12) && !(c.want == 0 && math.Abs(got) < 1e-15) {
			t.Errorf("PSI(%v, %v) = %v, %v; want %v", c.e, c.a, got, err, c.want)
		}
		back, _ := PSI(c.a, c.e)
		if !near(back, got, 1e-12) && math.Abs(back-got) > 1e-15 {
			t.Errorf("PSI not symmetric: %v vs %v", got, back)
		}
	}
	// Hand-computed: one bin of 10% against an empty bin, the rest equal:
	// (0.1-1e-4)*ln(0.1/1e-4) + (0.4-0.5)*ln(0.4/0.5) = 0.69007... + 0.02231...
	got, _ := PSI([]float64{0.5, 0.5, 0}, []float64{0.5, 0.4, 0.1})
	want := (0.1-1e-4)*math.Log(0.1/1e-4) + (0.4-0.5)*math.Log(0.4/0.5)
	if !near(got, want, 1e-12) {
		t.Errorf("PSI with an empty bin = %v, want %v", got, want)
	}
	for _, bad := range [][2][]float64{{{1, 2}, {1}}, {{}, {}}, {{0, 0}, {1, 1}}, {{-1, 2}, {1, 1}}, {{math.NaN(), 1}, {1, 1}}} {
		if _, err := PSI(bad[0], bad[1]); err == nil {
			t.Errorf("PSI(%v, %v): no error", bad[0], bad[1])
		}
	}
}

// Reference values from SciPy 1.10.1:
//
//	from scipy import stats, special
//	r = stats.ks_2samp(a, b, method="asymp")   # a, b as below
//	r.statistic                                 # 0.38666666666666666
//	special.kolmogorov(np.sqrt(25*30/55) * r.statistic)  # 0.03389684131400318
//	r = stats.ks_2samp(a, a[:10], method="asymp")
//	r.statistic, special.kolmogorov(np.sqrt(25*10/35) * r.statistic)  # 0.22, 0.8797936551695174
//	[special.kolmogorov(x) for x in (0.5, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0)]
func TestKSTwoSample(t *testing.T) {
	a := []float64{0.61, 0.29, 0.06, 0.59, -1.73, -0.74, 0.51, -0.56, 0.39, 1.64, 0.05, -0.06, 0.64, -0.82, 0.37,
		1.77, 1.09, -1.28, 2.36, 1.31, 1.05, -0.32, -0.4, 1.06, -2.47}
	b := []float64{2.2, 1.66, 1.38, 0.2, 0.36, 0, 0.96, 1.56, 0.44, 1.5, -0.3, 0.66, 2.31, 3.29, -0.27, 1.51, 0.24,
		1.51, 0.86, 0.77, 1.24, 1.07, 0.3, 0.91, 1.42, 0.82, 0.15, 1.28, 0.55, 1.48}
	cases := []struct {
		x, y  []float64
		d, pv float64
	}{
		{a, b, 0.38666666666666666, 0.03389684131400318},
		{a, a[:10], 0.21999999999999997, 0.8797936551695174},
		{b, b, 0, 1},
	}
	for _, c := range cases {
		ks, err := KSTwoSample(c.x, c.y)
		if err != nil {
			t.Fatal(err)
		}
		if !near(ks.D, c.d, 1e-12) && math.Abs(ks.D-c.d) > 1e-15 {
			t.Errorf("D = %v, want %v", ks.D, c.d)
		}
		if !near(ks.PValue, c.pv, 1e-9) {
			t.Errorf("p = %v, want %v", ks.PValue, c.pv)
		}
	}
	if a[0] != 0.61 {
		t.Errorf("KSTwoSample sorted its argument")
	}
	for x, want := range map[float64]float64{0.1: 1.0, 0.3: 0.9999906941986655, 0.5: 0.9639452436648751, 0.8: 0.5441424115741981,
		1.0: 0.26999967167735456, 1.2: 0.11224966667072497, 1.5: 0.022217962616525127, 2.0: 0.0006709252557796953,
		3.0: 3.045995948942526e-08} {
		if got := KolmogorovSF(x); !near(got, want, 1e-9) {
			t.Errorf("KolmogorovSF(%v) = %v, want %v", x, got, want)
		}
	}
	if _, err := KSTwoSample(nil, a); err == nil {
		t.Error("empty sample: no error")
	}
}

func TestSummarize(t *testing.T) {
	lo, hi := Range(1.0/255, 0.5, 0.25)
	if !near(lo, -2, 1e-6) || !near(hi, 2, 1e-6) {
		t.Fatalf("Range = [%v, %v], want [-2, 2]", lo, hi)
	}
	// Gray levels 0, 16, 17, 128, 255 through the committed models'
	// preprocessing: bins of 16 gray levels.
	var tensor []float32
	for _, g := range []float32{0, 16, 17, 128, 255} {
		tensor = append(tensor, (g*float32(1.0/255)-0.5)/0.25)
	}
	st := Summarize(tensor, lo, hi)
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	want := make([]int, proto.InputStatsBins)
	want[0], want[1], want[8], want[15] = 1, 2, 1, 1
	for i := range want {
		if st.Histogram[i] != want[i] {
			t.Fatalf("histogram %v, want %v", st.Histogram, want)
		}
	}
	var sum, sq float64
	for _, v := range tensor {
		sum += float64(v)
	}
	mean := sum / 5
	for _, v := range tensor {
		sq += (float64(v) - mean) * (float64(v) - mean)
	}
	if !near(st.Mean, mean, 1e-12) || !near(st.Std, math.Sqrt(sq/5), 1e-9) || st.Min != float64(tensor[0]) || st.Max != float64(tensor[4]) {
		t.Errorf("stats %+v, want mean %v std %v", st, mean, math.Sqrt(sq/5))
	}
	if Summarize(nil, lo, hi) != nil || Summarize(tensor, 1, 1) != nil || Summarize([]float32{float32(math.NaN())}, lo, hi) != nil {
		t.Error("Summarize accepted an empty tensor, an empty range or NaN")
	}
	out := Summarize([]float32{-5, 5}, lo, hi)
	if out.Histogram[0] != 1 || out.Histogram[15] != 1 {
		t.Errorf("out-of-range values not clamped: %v", out.Histogram)
	}
}
