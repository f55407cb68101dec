// Package sequential holds always-valid tests and confidence sequences: they
// may be computed after every single observation, and the decision may be
// taken at whichever look first crosses the boundary, without inflating the
// type I error (classical tests recomputed at every look do inflate it; see
// stats/SIMULATION.md).
//
// # Method
//
// Normal, TwoProportions and Paired are the mixture sequential probability
// ratio test (mSPRT) of Johari, Koomen, Pekelis and Walsh, "Always Valid
// Inference: Continuous Monitoring of A/B Tests", Operations Research 70(3),
// 2022 (arXiv:1512.04922), section 4. An estimate theta_hat of a difference
// theta, approximately normal with variance V, is compared with the null
// theta0 by the likelihood ratio mixed over theta ~ N(theta0, tau^2):
//
//	Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 (theta_hat - theta0)^2 / (2 V (V + tau^2)))
//
// Under the null, Lambda is (asymptotically) a nonnegative martingale with
// mean 1, so by Ville's inequality P(Lambda >= 1/alpha at any look) <= alpha.
// The always-valid p-value after look n is min over looks of min(1, 1/Lambda)
// (Running keeps that minimum). Inverting the test gives the confidence
// sequence theta_hat +/- Radius(V): the values of theta0 not yet rejected; the
// running intersection of these intervals is again a valid confidence
// sequence (Howard, Ramdas, McAuliffe and Sekhon, "Time-uniform,
// nonparametric, nonasymptotic confidence sequences", Annals of Statistics
// 49(2), 2021, which also derives the normal-mixture boundary).
//
// For two proportions theta = pB - pA and V is the plug-in variance of the
// two-sample difference, pA(1-pA)/nA + pB(1-pB)/nB. The plug-in makes the
// guarantee asymptotic (as in Johari et al.); to keep V positive when an arm
// is at 0% or 100% the variance (not the estimate) uses (x+1)/(n+2) in place
// of x/n. For paired (shadow-mode) data theta is the mean of the per-pair
// difference (challenger correct) - (champion correct) in {-1, 0, 1} and V
// its plug-in variance, smoothed by half a discordant pair on each side.
//
// # Choosing tau
//
// tau is the standard deviation of the mixing distribution on the scale of
// theta. Johari et al. (section 4.3) fit it to the distribution of effects
// seen in past experiments; equivalently, tau sets where the boundary is
// tightest: for a per-observation variance sigma^2 the confidence sequence
// is narrowest (relative to the fixed-sample interval) at
// n = r sigma^2 / tau^2 with r = 2 log(1/alpha) + log(1 + r) (about 8.2 for
// alpha = 0.05); TauForSampleSize solves that. A tau near the smallest effect
// worth acting on is the usual default: the platform uses 0.05 (five
// accuracy points, the seed's promotion threshold), which puts the tightest
// point near 650 labelled per arm at 85-92% accuracy. Smaller tau waits
// longer for small effects but is slower on large ones; any tau > 0 keeps
// the error guarantee.
//
// # Exact test on discordant pairs
//
// Discordant is exact rather than asymptotic: among discordant pairs, the
// number won by the challenger is Binomial(b+c, q) and equal accuracy means
// q = 1/2. Mixing the binomial likelihood over q ~ Beta(a, a) gives
//
//	Lambda = B(a+c, a+b) / B(a, a) * 2^(b+c),
//
// an exact nonnegative martingale under q = 1/2 (a Bayes factor), so the
// always-valid guarantee holds at every sample size, including the first
// pairs. The prior is set by the standard deviation s of the net win share
// 2q-1, a = (1/s^2 - 1)/2.
package sequential

import (
	"fmt"
	"math"

	"github.com/healthcare-ai/platform/stats"
)

// Config sets the level and the mixing distribution of the mSPRT.
type Config struct {
	// Alpha is the error guarantee: the null is rejected once Lambda >= 1/Alpha,
	// and confidence sequences have coverage 1-Alpha over all looks.
	Alpha float64
	// Tau is the standard deviation of the normal mixing distribution, on the
	// scale of the difference (0.05 = five percentage points).
	Tau float64
}

// DefaultConfig returns Alpha 0.05 and Tau 0.05.
func DefaultConfig() Config { return Config{Alpha: 0.05, Tau: 0.05} }

// Validate reports whether Alpha is in (0, 1) and Tau is positive and finite.
func (c Config) Validate() error {
	if !(c.Alpha > 0 && c.Alpha < 1) {
		return fmt.Errorf("%w: alpha %v: must be in (0, 1)", stats.ErrInvalidInput, c.Alpha)
	}
	if !(c.Tau > 0) || math.IsInf(c.Tau, 1) {
		return fmt.Errorf("%w: tau %v: must be a positive finite number", stats.ErrInvalidInput, c.Tau)
	}
	return nil
}

// Look is the analysis of the data seen so far. On its own it is valid only
// for this look's p-value and interval; Running combines looks.
type Look struct {
	// Estimate is the current estimate of the difference (or, for
	// Discordant, of the share q of discordant pairs won by B).
	Estimate float64
	// Variance is the plug-in variance of Estimate (0 when there is no data).
	Variance float64
	// Z is Estimate minus the null over its standard error (0 without data).
	Z float64
	// LogLR is the log of the mixture likelihood ratio Lambda against the null.
	LogLR float64
	// PValue is min(1, 1/Lambda) at this look.
	PValue float64
	// Lower and Upper bound this look's confidence-sequence interval.
	Lower, Upper float64
}

// noEvidence is the look for an arm without data: p-value 1 and the whole
// parameter range.
func noEvidence(estimate, lower, upper float64) Look {
	return Look{Estimate: estimate, PValue: 1, Lower: lower, Upper: upper}
}

// Normal computes the mSPRT look for an estimate with the given positive
// variance against the null value theta0.
func Normal(estimate, variance, theta0 float64, cfg Config) (Look, error) {
	if err := cfg.Validate(); err != nil {
		return Look{}, err
	}
	if !(variance > 0) || math.IsInf(variance, 1) || math.IsNaN(estimate) || math.IsInf(estimate, 0) {
		return Look{}, fmt.Errorf("%w: estimate %v with variance %v: need a finite estimate and a positive finite variance",
			stats.ErrInvalidInput, estimate, variance)
	}
	return normal(estimate, variance, theta0, cfg), nil
}

func normal(est, v, theta0 float64, cfg Config) Look {
	t2 := cfg.Tau * cfg.Tau
	d := est - theta0
	logLR := 0.5*math.Log(v/(v+t2)) + t2*d*d/(2*v*(v+t2))
	r := radius(v, t2, cfg.Alpha)
	return Look{
		Estimate: est,
		Variance: v,
		Z:        d / math.Sqrt(v),
		LogLR:    logLR,
		PValue:   pFromLogLR(logLR),
		Lower:    est - r,
		Upper:    est + r,
	}
}

func pFromLogLR(logLR float64) float64 {
	if logLR <= 0 {
		return 1
	}
	return math.Exp(-logLR)
}

// Radius is the half-width of the normal-mixture confidence sequence for an
// estimate with variance v:
//
//	sqrt(v (v + tau^2) / tau^2 * (2 log(1/alpha) + log((v + tau^2) / v)))
//
// It is +Inf for v = +Inf and 0 for v = 0.
func Radius(v float64, cfg Config) float64 {
	return radius(v, cfg.Tau*cfg.Tau, cfg.Alpha)
}

func radius(v, t2, alpha float64) float64 {
	if !(v > 0) {
		return 0
	}
	if math.IsInf(v, 1) {
		return v
	}
	return math.Sqrt(v * (v + t2) / t2 * (-2*math.Log(alpha) + math.Log1p(t2/v)))
}

func clampInterval(l Look, lo, hi float64) Look {
	l.Lower = math.Max(l.Lower, lo)
	l.Upper = math.Min(l.Upper, hi)
	return l
}

func checkTrials(xName string, x int, nName string, n int) error {
	if x < 0 || n < 0 || x > n || n > stats.MaxCount {
		return fmt.Errorf("%w: %s %d out of %s %d: need 0 <= %s <= %s <= %d",
			stats.ErrInvalidInput, xName, x, nName, n, xName, nName, stats.MaxCount)
	}
	return nil
}

// TwoProportions computes the mSPRT look for theta = xB/nB - xA/nA (B minus
// A) against theta = 0, with the smoothed plug-in variance described in the
// package documentation. The interval is clipped to [-1, 1]. An empty arm
// gives p-value 1 and the interval [-1, 1].
func TwoProportions(xA, nA, xB, nB int, cfg Config) (Look, error) {
	if err := cfg.Validate(); err != nil {
		return Look{}, err
	}
	if err := checkTrials("xA", xA, "nA", nA); err != nil {
		return Look{}, err
	}
	if err := checkTrials("xB", xB, "nB", nB); err != nil {
		return Look{}, err
	}
	est, v := DiffVariance(xA, nA, xB, nB)
	if nA == 0 || nB == 0 {
		return noEvidence(est, -1, 1), nil
	}
	return clampInterval(normal(est, v, 0, cfg), -1, 1), nil
}

// DiffVariance returns the difference xB/nB - xA/nA and its smoothed plug-in
// variance p~A(1-p~A)/nA + p~B(1-p~B)/nB with p~ = (x+1)/(n+2). An empty arm
// counts as proportion 0 and gives variance 0. Arguments are not validated.
func DiffVariance(xA, nA, xB, nB int) (estimate, variance float64) {
	if nA == 0 || nB == 0 {
		return proportion(xB, nB) - proportion(xA, nA), 0
	}
	return proportion(xB, nB) - proportion(xA, nA), smoothedVar(xA, nA) + smoothedVar(xB, nB)
}

func proportion(x, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(x) / float64(n)
}

func smoothedVar(x, n int) float64 {
	p := (float64(x) + 1) / (float64(n) + 2)
	return p * (1 - p) / float64(n)
}

// Paired computes the mSPRT look for paired binary outcomes: of pairs
// pairs, onlyA were correct only for A and onlyB only for B. theta is
// (onlyB - onlyA)/pairs, B's accuracy minus A's, tested against 0 with the
// smoothed plug-in variance of the per-pair difference. The interval is
// clipped to [-1, 1]. No pairs give p-value 1 and the interval [-1, 1].
func Paired(onlyA, onlyB, pairs int, cfg Config) (Look, error) {
	if err := cfg.Validate(); err != nil {
		return Look{}, err
	}
	if onlyA < 0 || onlyB < 0 || pairs > stats.MaxCount || onlyA > pairs-onlyB {
		return Look{}, fmt.Errorf("%w: onlyA %d, onlyB %d, pairs %d: need non-negative discordant counts whose sum is at most pairs <= %d",
			stats.ErrInvalidInput, onlyA, onlyB, pairs, stats.MaxCount)
	}
	est, v := PairedVariance(onlyA, onlyB, pairs)
	if pairs == 0 {
		return noEvidence(0, -1, 1), nil
	}
	return clampInterval(normal(est, v, 0, cfg), -1, 1), nil
}

// PairedVariance returns (onlyB - onlyA)/pairs and its smoothed plug-in
// variance: with b = onlyA + 1/2, c = onlyB + 1/2 and m = pairs + 1, the
// per-pair variance (b+c)/m - ((c-b)/m)^2, divided by pairs. No pairs give
// 0, 0. Arguments are not validated.
func PairedVariance(onlyA, onlyB, pairs int) (estimate, variance float64) {
	if pairs == 0 {
		return 0, 0
	}
	n := float64(pairs)
	b, c, m := float64(onlyA)+0.5, float64(onlyB)+0.5, n+1
	perPair := (b+c)/m - ((c-b)/m)*((c-b)/m)
	return (float64(onlyB) - float64(onlyA)) / n, perPair / n
}

// Discordant computes the exact always-valid test of q = 1/2, where q is the
// share of discordant pairs won by B (onlyB of onlyA+onlyB), with the
// beta-binomial mixture over q ~ Beta(a, a), a = (1/priorSD^2 - 1)/2 (priorSD
// is the prior standard deviation of 2q-1, in (0, 1)). Estimate is q_hat
// (1/2 without discordant pairs), Z the sign-test z (onlyB-onlyA)/sqrt(onlyA+onlyB),
// and [Lower, Upper] the exact confidence sequence for q at level alpha.
func Discordant(onlyA, onlyB int, priorSD, alpha float64) (Look, error) {
	if onlyA < 0 || onlyB < 0 || onlyA > stats.MaxCount || onlyB > stats.MaxCount {
		return Look{}, fmt.Errorf("%w: onlyA %d, onlyB %d: must be counts in [0, %d]",
			stats.ErrInvalidInput, onlyA, onlyB, stats.MaxCount)
	}
	if !(priorSD > 0 && priorSD < 1) {
		return Look{}, fmt.Errorf("%w: priorSD %v: must be in (0, 1)", stats.ErrInvalidInput, priorSD)
	}
	if !(alpha > 0 && alpha < 1) {
		return Look{}, fmt.Errorf("%w: alpha %v: must be in (0, 1)", stats.ErrInvalidInput, alpha)
	}
	a := (1/(priorSD*priorSD) - 1) / 2
	b, c := float64(onlyA), float64(onlyB)
	n := b + c
	if n == 0 {
		return noEvidence(0.5, 0, 1), nil
	}
	logMix := lbeta(a+c, a+b) - lbeta(a, a) // log of the marginal likelihood of the sequence
	logLR := logMix + n*math.Ln2
	q := c / n
	lo, hi := discordantInterval(b, c, logMix+math.Log(alpha), a, alpha)
	return Look{
		Estimate: q,
		Variance: q * (1 - q) / n,
		Z:        (c - b) / math.Sqrt(n),
		LogLR:    logLR,
		PValue:   pFromLogLR(logLR),
		Lower:    lo,
		Upper:    hi,
	}, nil
}

func lbeta(x, y float64) float64 {
	lx, _ := math.Lgamma(x)
	ly, _ := math.Lgamma(y)
	lxy, _ := math.Lgamma(x + y)
	return lx + ly - lxy
}

// discordantInterval returns {q : c log q + b log(1-q) > k}, an interval
// around c/(b+c) because the left side is concave. Each end is found by
// Newton's method started on the outer side of the root: for a concave
// function the iterates then approach the root monotonically from outside.
func discordantInterval(b, c, k, a, alpha float64) (lo, hi float64) {
	g := func(q float64) float64 {
		s := -k
		if c > 0 {
			s += c * math.Log(q)
		}
		if b > 0 {
			s += b * math.Log1p(-q)
		}
		return s
	}
	dg := func(q float64) float64 { return c/q - b/(1-q) }
	n := b + c
	qhat := c / n
	// Start just outside the normal approximation of the interval: the
	// normal-mixture radius with the prior variance of q, 1/(4(2a+1)).
	v := (qhat*(1-qhat) + 1/n) / n
	spread := 1.2*radius(v, 1/(4*(2*a+1)), alpha) + 1e-6
	lo, hi = 0, 1
	if c > 0 {
		lo = newtonRoot(g, dg, math.Max(qhat-spread, qhat/2), 0, qhat)
	}
	if b > 0 {
		hi = newtonRoot(g, dg, math.Min(qhat+spread, (1+qhat)/2), 1, qhat)
	}
	return lo, hi
}

// newtonRoot finds where the concave g crosses zero between edge (outside
// the interval, g <= 0 in the limit) and inner (g > 0), starting at x0.
func newtonRoot(g, dg func(float64) float64, x0, edge, inner float64) float64 {
	x := x0
	// Step outward until g(x) <= 0 (or the edge is reached).
	for i := 0; g(x) > 0; i++ {
		if i == 60 {
			return edge
		}
		x = (x + edge) / 2
	}
	for i := 0; i < 50; i++ {
		gx := g(x)
		if gx == 0 {
			return x
		}
		step := gx / dg(x)
		next := x - step
		if !(math.Min(edge, inner) <= next && next <= math.Max(edge, inner)) {
			next = (x + inner) / 2
		}
		// Quadratic convergence: after a step of 1e-9 (relative) the
		// remaining error is below double precision.
		if math.Abs(next-x) <= 1e-9*math.Max(math.Abs(x), 1e-300) {
			return next
		}
		x = next
	}
	return x
}

// Running is the always-valid summary of all looks so far: the running
// minimum of the p-values and the running intersection of the intervals.
// The zero value means "no look yet". It is a value: Update returns the new
// summary, so callers can store it between looks (JSON-friendly).
type Running struct {
	Looks  int     `json:"looks"`
	PValue float64 `json:"p_value"`
	Lower  float64 `json:"lower"`
	Upper  float64 `json:"upper"`
}

// Update folds one look into the summary. Looks must come from growing data
// of one experiment. If the intersection of the intervals becomes empty (an
// event of probability at most alpha when the model holds, or a sign that
// the data changed under the test) the summary restarts its interval from
// the current look's; the p-value minimum is kept.
func (r Running) Update(l Look) Running {
	if r.Looks == 0 {
		return Running{Looks: 1, PValue: l.PValue, Lower: l.Lower, Upper: l.Upper}
	}
	out := Running{
		Looks:  r.Looks + 1,
		PValue: math.Min(r.PValue, l.PValue),
		Lower:  math.Max(r.Lower, l.Lower),
		Upper:  math.Min(r.Upper, l.Upper),
	}
	if out.Lower > out.Upper {
		out.Lower, out.Upper = l.Lower, l.Upper
	}
	return out
}

// TauForSampleSize returns the tau at which the confidence sequence is
// tightest after n observations with per-observation variance sigma2 (so
// the variance of the estimate is sigma2/n): tau^2 = r sigma2 / n with
// r = 2 log(1/alpha) + log(1 + r). It returns 0 for invalid arguments.
func TauForSampleSize(sigma2, n, alpha float64) float64 {
	if !(sigma2 > 0 && n > 0 && alpha > 0 && alpha < 1) {
		return 0
	}
	c := -2 * math.Log(alpha)
	r := c
	for i := 0; i < 100; i++ {
		next := c + math.Log1p(r)
		if math.Abs(next-r) < 1e-14*r {
			r = next
			break
		}
		r = next
	}
	return math.Sqrt(r * sigma2 / n)
}

// SampleSizeToDetect returns the smallest n (observations, fractional) at
// which the confidence sequence for an estimate with variance sigma2/n has a
// radius no larger than |effect|: roughly when an effect of that size, if it
// holds, first makes the test reject. It returns +Inf for a zero effect and
// 0 for a non-positive sigma2.
func SampleSizeToDetect(effect, sigma2 float64, cfg Config) float64 {
	effect = math.Abs(effect)
	if !(sigma2 > 0) {
		return 0
	}
	if !(effect > 0) || cfg.Validate() != nil {
		return math.Inf(1)
	}
	fits := func(n float64) bool { return Radius(sigma2/n, cfg) <= effect }
	lo, hi := 0.0, 1.0
	for !fits(hi) {
		lo, hi = hi, hi*2
		if hi > 1e15 {
			return math.Inf(1)
		}
	}
	for hi-lo > 1e-6*hi {
		mid := (lo + hi) / 2
		if fits(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}
