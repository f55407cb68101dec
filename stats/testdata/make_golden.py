#!/usr/bin/python3
"""Write stats/testdata/golden.json: reference values for package stats.

Rerun (from the repository root) after changing the cases below:

    scripts/setup.sh stats          # Debian python3-scipy, python3-statsmodels
    /usr/bin/python3 stats/testdata/make_golden.py

Generated with SciPy 1.10.1 and statsmodels 0.13.5 (Debian 12). The Go tests
read golden.json only; they never run Python.

Where SciPy/statsmodels raise or return NaN on a degenerate table (an empty row
or column, a zero pooled variance, no discordant pairs, n = 0), the case holds
the package's documented convention instead and is marked "convention": true.

The mSPRT cases (section "msprt", "discordant") are an independent
re-implementation of the formulas in stats/sequential, with scipy.special and
scipy.optimize, to catch transcription slips in the Go code.
"""

import json
import math
import os

import numpy as np
import scipy
import statsmodels
from scipy import optimize, special
from scipy import stats as st
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

TABLES = [
    # ordinary
    [[45, 5], [38, 12]],
    [[85, 15], [92, 8]],
    [[12, 5], [7, 9]],
    [[3, 5], [5, 3]],  # symmetric: ties in the Fisher sum
    [[1, 9], [11, 3]],
    [[10, 10], [10, 10]],
    [[170, 30], [184, 16]],
    [[850, 150], [920, 80]],
    [[1, 0], [0, 1]],
    [[2, 1], [1, 2]],
    [[0, 5], [5, 0]],
    [[5, 0], [0, 5]],
    [[1, 20], [20, 1]],
    [[100, 1], [1, 100]],
    [[7, 2], [3, 9]],
    [[0, 10], [3, 7]],  # zero cell, non-empty margins
    [[10, 0], [7, 3]],
    [[50, 0], [49, 1]],
    [[1700, 300], [1840, 160]],
    [[4000, 1000], [4100, 900]],
    [[20000, 3000], [20300, 2700]],  # large: looser tolerance
    [[1, 1], [1, 1]],
    [[6, 1], [1, 0]],
    [[2, 7], [8, 2]],
    [[0, 1], [1, 0]],
    [[25, 25], [24, 26]],  # |O-E| < 0.5 with Yates
    [[30, 70], [31, 69]],
    # degenerate: empty row or column
    [[0, 0], [0, 0]],
    [[0, 0], [10, 5]],
    [[10, 5], [0, 0]],
    [[50, 0], [50, 0]],  # both arms 100% correct
    [[0, 50], [0, 50]],  # both arms 0% correct
    [[7, 0], [3, 0]],
]


def degenerate(t):
    a, b = t[0]
    c, d = t[1]
    return a + b == 0 or c + d == 0 or a + c == 0 or b + d == 0


def case_chi2():
    out = []
    for t in TABLES:
        for yates in (False, True):
            if degenerate(t):
                out.append(dict(table=t, yates=yates, statistic=0.0, p=1.0, convention=True))
                continue
            stat, p, dof, _ = st.chi2_contingency(np.array(t), correction=yates)
            assert dof == 1
            out.append(dict(table=t, yates=yates, statistic=float(stat), p=float(p)))
    return out


def case_fisher():
    out = []
    for t in TABLES:
        if degenerate(t):
            out.append(dict(table=t, odds_ratio=1.0, odds_ratio_inf=False, p=1.0, convention=True))
            continue
        r = st.fisher_exact(np.array(t))
        oddsr, p = float(r[0]), float(r[1])
        out.append(dict(table=t, odds_ratio=0.0 if math.isinf(oddsr) else oddsr,
                        odds_ratio_inf=math.isinf(oddsr), p=p))
    return out


def case_ztest():
    out = []
    for t in TABLES:
        x1, n1 = t[0][0], t[0][0] + t[0][1]
        x2, n2 = t[1][0], t[1][0] + t[1][1]
        pooled = (x1 + x2) / (n1 + n2) if n1 + n2 else 0
        if n1 == 0 or n2 == 0 or pooled in (0, 1):
            out.append(dict(x1=x1, n1=n1, x2=x2, n2=n2, z=0.0, p=1.0, convention=True))
            continue
        z, p = proportions_ztest([x1, x2], [n1, n2])
        out.append(dict(x1=x1, n1=n1, x2=x2, n2=n2, z=float(z), p=float(p)))
    return out


MCNEMAR = [(0, 0), (0, 1), (1, 0), (1, 1), (3, 9), (9, 3), (5, 5), (0, 12), (10, 14),
           (12, 13), (20, 30), (40, 60), (100, 130), (7, 0), (2, 22), (300, 250), (1000, 1100)]


def case_mcnemar():
    out = []
    for b, c in MCNEMAR:
        for exact in (True, False):
            if b + c == 0:
                out.append(dict(b=b, c=c, exact=exact, statistic=0.0, p=1.0, convention=True))
                continue
            r = mcnemar([[10, b], [c, 10]], exact=exact, correction=True)
            out.append(dict(b=b, c=c, exact=exact, statistic=float(r.statistic), p=float(r.pvalue)))
    return out


WILSON = [(0, 0), (0, 1), (1, 1), (0, 10), (10, 10), (3, 10), (45, 50), (85, 100),
          (920, 1000), (1, 1000), (999, 1000), (5000, 10000), (17, 23)]


def case_wilson():
    out = []
    for x, n in WILSON:
        for alpha in (0.05, 0.01, 0.1):
            if n == 0:
                out.append(dict(x=x, n=n, alpha=alpha, lower=0.0, upper=1.0, convention=True))
                continue
            lo, hi = proportion_confint(x, n, alpha=alpha, method="wilson")
            out.append(dict(x=x, n=n, alpha=alpha, lower=float(lo), upper=float(hi)))
    return out


NEWCOMBE = [(45, 50, 38, 50), (92, 100, 85, 100), (10, 10, 7, 10), (0, 10, 3, 10),
            (50, 50, 50, 50), (1, 3, 2, 3), (920, 1000, 850, 1000), (0, 20, 0, 20)]


def case_newcombe():
    out = []
    for x1, n1, x2, n2 in NEWCOMBE:
        for alpha in (0.05, 0.01):
            lo, hi = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb",
                                                compare="diff", alpha=alpha)
            out.append(dict(x1=x1, n1=n1, x2=x2, n2=n2, alpha=alpha, lower=float(lo), upper=float(hi)))
    return out


POWER = [(0.85, 0.92), (0.85, 0.90), (0.80, 0.85), (0.5, 0.6), (0.92, 0.85), (0.1, 0.3), (0.95, 0.97)]


def case_power():
    out = []
    pw = NormalIndPower()
    for p1, p2 in POWER:
        h = proportion_effectsize(p1, p2)
        for alpha, power in ((0.05, 0.8), (0.05, 0.9), (0.01, 0.8)):
            n = pw.solve_power(effect_size=h, alpha=alpha, power=power, ratio=1.0, alternative="two-sided")
            n = float(np.asarray(n).ravel()[0])
            out.append(dict(p1=p1, p2=p2, alpha=alpha, power=power, h=float(h), n=n))
        for n in (10, 100, 319, 1000):
            pv = pw.power(effect_size=h, nobs1=n, alpha=0.05, ratio=1.0, alternative="two-sided")
            out.append(dict(p1=p1, p2=p2, alpha=0.05, n=n, power_at_n=float(pv), h=float(h)))
    return out


def case_dist():
    xs = [-40, -38.5, -20, -10, -5, -3, -1.959963984540054, -1, -0.1, 0, 0.3, 1, 2.5, 6, 9]
    ps = [1e-300, 1e-100, 1e-20, 1e-10, 1e-5, 0.001, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 0.975, 0.999, 1 - 1e-10]
    chis = [0, 1e-8, 0.01, 0.5, 1, 3.841458820694124, 10, 50, 200, 1000]
    binom = [(0, 10, 0.5), (3, 10, 0.5), (5, 10, 0.5), (12, 25, 0.5), (7, 20, 0.3), (0, 20, 0.3),
             (20, 20, 0.3), (150, 1000, 0.15), (900, 1000, 0.85), (4, 24, 0.5)]
    hyper = [(3, 16, 8, 8), (0, 20, 10, 5), (45, 100, 50, 83), (12, 33, 17, 19), (850, 2000, 1000, 1770),
             (5, 10, 5, 5), (1, 2, 1, 1)]
    return dict(
        norm_cdf=[dict(x=x, v=float(st.norm.cdf(x))) for x in xs],
        norm_sf=[dict(x=x, v=float(st.norm.sf(x))) for x in xs],
        norm_ppf=[dict(p=p, v=float(st.norm.ppf(p))) for p in ps],
        chi2_sf=[dict(x=x, v=float(st.chi2.sf(x, 1))) for x in chis],
        binom_pmf=[dict(k=k, n=n, p=p, v=float(st.binom.pmf(k, n, p))) for k, n, p in binom],
        binom_cdf=[dict(k=k, n=n, p=p, v=float(st.binom.cdf(k, n, p))) for k, n, p in binom],
        hypergeom_pmf=[dict(k=k, total=M, successes=n, draws=N, v=float(st.hypergeom.pmf(k, M, n, N)))
                       for k, M, n, N in hyper],
    )


def msprt(est, v, theta0, tau, alpha):
    t2 = tau * tau
    loglr = 0.5 * math.log(v / (v + t2)) + t2 * (est - theta0) ** 2 / (2 * v * (v + t2))
    r = math.sqrt(v * (v + t2) / t2 * (2 * math.log(1 / alpha) + math.log((v + t2) / v)))
    return loglr, est - r, est + r


def case_msprt():
    out = []
    for xa, na, xb, nb in [(85, 100, 92, 100), (170, 200, 184, 200), (425, 500, 460, 500), (50, 50, 50, 50),
                           (0, 10, 10, 10), (430, 500, 420, 500), (1, 3, 2, 3), (1700, 2000, 1710, 2000)]:
        for tau, alpha in ((0.05, 0.05), (0.1, 0.01)):
            pa = (xa + 1) / (na + 2)
            pb = (xb + 1) / (nb + 2)
            v = pa * (1 - pa) / na + pb * (1 - pb) / nb
            est = xb / nb - xa / na
            loglr, lo, hi = msprt(est, v, 0.0, tau, alpha)
            out.append(dict(xa=xa, na=na, xb=xb, nb=nb, tau=tau, alpha=alpha, estimate=est, variance=v,
                            loglr=loglr, lower=max(lo, -1), upper=min(hi, 1)))
    return out


def case_paired():
    out = []
    for b, c, n in [(10, 25, 300), (0, 0, 100), (3, 0, 50), (40, 38, 500), (5, 30, 120)]:
        bb, cc, m = b + 0.5, c + 0.5, n + 1
        v = ((bb + cc) / m - ((cc - bb) / m) ** 2) / n
        est = (c - b) / n
        loglr, lo, hi = msprt(est, v, 0.0, 0.05, 0.05)
        out.append(dict(only_a=b, only_b=c, pairs=n, estimate=est, variance=v, loglr=loglr,
                        lower=max(lo, -1), upper=min(hi, 1)))
    return out


def case_discordant():
    out = []
    for b, c in [(0, 3), (3, 0), (10, 25), (25, 10), (40, 38), (1, 0), (100, 150), (0, 12)]:
        for sd in (0.3, 0.5):
            a = (1 / sd ** 2 - 1) / 2
            logmix = special.betaln(a + c, a + b) - special.betaln(a, a)
            loglr = logmix + (b + c) * math.log(2)
            k = logmix + math.log(0.05)

            def g(q):
                return (c * math.log(q) if c else 0) + (b * math.log1p(-q) if b else 0) - k

            q = c / (b + c)
            lo = optimize.brentq(g, 1e-300, q, xtol=1e-15) if c and g(1e-300) < 0 else 0.0
            hi = optimize.brentq(g, q, 1 - 1e-16, xtol=1e-15) if b and g(1 - 1e-16) < 0 else 1.0
            out.append(dict(only_a=b, only_b=c, prior_sd=sd, alpha=0.05, loglr=loglr, lower=lo, upper=hi))
    return out


def main():
    golden = dict(
        generator="stats/testdata/make_golden.py",
        scipy=scipy.__version__,
        statsmodels=statsmodels.__version__,
        chi2=case_chi2(),
        fisher=case_fisher(),
        ztest=case_ztest(),
        mcnemar=case_mcnemar(),
        wilson=case_wilson(),
        newcombe=case_newcombe(),
        power=case_power(),
        dist=case_dist(),
        msprt=case_msprt(),
        paired=case_paired(),
        discordant=case_discordant(),
    )
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
    with open(path, "w") as f:
        json.dump(golden, f, indent=1, allow_nan=False)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
