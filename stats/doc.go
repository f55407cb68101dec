// Package stats holds the frequentist tests and intervals the platform uses to
// compare two models on radiologist feedback: tests on a 2x2 table (Pearson
// chi-square with and without Yates' correction, Fisher's exact test, the
// pooled two-proportion z-test), McNemar's test for paired (shadow-mode)
// predictions, Wilson and Newcombe intervals, and sample size and power for
// comparing two proportions. The distribution functions they need (normal CDF
// and quantile, chi-square(1) survival, binomial and hypergeometric
// probabilities) are here too. It uses only the standard library.
//
// Every function is a pure computation: no state, no logging, no panics.
// Inputs that are invalid (a negative count, successes above trials, a level
// outside (0, 1), a count above MaxCount) give an error wrapping
// ErrInvalidInput that names the argument.
//
// # Reference implementations
//
// Results match SciPy 1.10 and statsmodels 0.13 (the versions in Debian 12):
// stats/testdata/golden.json is written by stats/testdata/make_golden.py and
// the tests compare against it with relative tolerances of 1e-9 or tighter
// for p-values (1e-7 for the largest tables, where log-gamma rounding grows).
//
//   - ChiSquare: scipy.stats.chi2_contingency(table, correction=...).
//   - FisherExact: scipy.stats.fisher_exact(table) (two-sided: the sum of the
//     probabilities of all tables with the same margins that are no more
//     probable than the observed one, with a relative tolerance of 1e-7).
//   - TwoProportionZTest: statsmodels.stats.proportion.proportions_ztest
//     (pooled variance).
//   - McNemar: statsmodels.stats.contingency_tables.mcnemar(exact=True) below
//     McNemarOptions.ExactBelow discordant pairs, exact=False otherwise.
//   - Wilson: statsmodels proportion_confint(method="wilson"); Newcombe:
//     confint_proportions_2indep(method="newcomb", compare="diff").
//   - PowerTwoProportions and SampleSizeTwoProportions: statsmodels
//     NormalIndPower with proportion_effectsize (Cohen's h, the arcsine
//     transformation), two-sided, equal arms.
//
// # Degenerate input
//
// Feedback counts are often small or lopsided, so every function gives a
// defined, finite answer (never NaN) where the textbook formula divides by
// zero; the convention is "no evidence of a difference":
//
//   - A 2x2 table with an empty row or column (an arm without feedback, or
//     both arms 100% correct, or both 0%): ChiSquare gives statistic 0 and
//     p-value 1 (SciPy raises an error); FisherExact gives p-value 1 and odds
//     ratio 1 (SciPy: NaN). With non-empty margins but a zero off-diagonal
//     cell the odds ratio is +Inf, as in SciPy.
//   - TwoProportionZTest with an empty arm, or with a pooled proportion of 0
//     or 1: z = 0, p-value 1 (statsmodels: NaN).
//   - McNemar with no discordant pairs: statistic 0, p-value 1.
//   - Wilson with n = 0: the interval [0, 1]. Newcombe with an empty arm uses
//     [0, 1] for that arm, so the difference interval is wide but defined.
//   - PowerTwoProportions with equal proportions returns alpha (the test's
//     size); SampleSizeTwoProportions returns ErrNoEffect, since no finite
//     sample detects a zero difference.
//
// Always-valid (sequential) tests for monitoring an experiment after every
// feedback live in the subpackage stats/sequential.
package stats
