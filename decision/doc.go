// Package decision turns the feedback counts of a champion/challenger
// experiment into PROMOTE, KEEP_TESTING or ROLLBACK. It holds pure decision
// rules: no I/O, no clock, no globals. The caller (the evaluator, a CLI, a
// test) passes the counts of the experiment so far and the State returned by
// the previous call, and stores the State it gets back.
//
// # Why always-valid tests
//
// The decision is re-evaluated after every feedback. A fixed-sample test
// (chi-square at p < 0.05) recomputed at every look will sooner or later
// cross 0.05 by chance: in the A/A simulation of stats/SIMULATION.md the
// seed's rule promotes an identical model far more often than 5% of the
// time. Decide therefore uses always-valid p-values and confidence sequences
// (package stats/sequential, the mixture SPRT of Johari et al.), whose error
// guarantee holds however often and whenever one looks.
//
// # Rules (Decide, DecidePaired)
//
// Let D be challenger minus champion on the primary metric (Config.Metric:
// accuracy, sensitivity, specificity or balanced accuracy) and S the same
// difference on sensitivity, each with an always-valid confidence sequence at
// level Config.Alpha (the running intersection over all looks).
//
//   - ROLLBACK when the challenger is significantly worse on the primary
//     metric (the upper bound of D is below 0), or when the sensitivity
//     guardrail is clearly violated (the upper bound of S is below
//     -SensitivityMargin). Rollback needs no minimum sample or coverage: a
//     harmful challenger is withdrawn as soon as the evidence is there. When
//     both a promotion and the sensitivity rollback hold, rollback wins.
//   - PROMOTE when the challenger is significantly better on the primary
//     metric (the lower bound of D is above 0, equivalently the always-valid
//     p-value is at most Alpha with D > 0), AND it is non-inferior on
//     sensitivity (the lower bound of S is above -SensitivityMargin), AND both
//     arms have at least MinLabelledPerArm labelled predictions, AND both arms
//     have feedback on at least MinCoverage of their served predictions.
//   - KEEP_TESTING otherwise, with EstimatedSamplesNeeded: the additional
//     labelled predictions per arm after which the blocking condition would
//     clear if the current estimates held (see Decision). When the
//     confidence sequence of D already lies within +/-MinDifference the
//     reason says the models are equivalent and EstimatedSamplesNeeded is
//     0: the experiment can be ended without a promotion.
//
// Two-arm mode (Decide) compares independent arms with the two-proportion
// mSPRT. Shadow mode (DecidePaired) uses the paired outcomes of both models
// on the same images: for accuracy, sensitivity and specificity the primary
// test is the exact always-valid test on discordant pairs (beta-binomial
// mixture), and intervals on the difference come from the paired mSPRT.
// Balanced accuracy uses the normal mixture on the average of the sensitivity
// and specificity differences in both modes.
//
// # Baseline: the seed's rule
//
// SeedRule reproduces the decision rule of the seed project for comparison:
// Pearson chi-square on the accuracy table (with Yates' correction, the
// default of scipy.stats.chi2_contingency), recomputed at every look, no
// verdict before 50 labelled predictions per arm, a difference below 1 point
// never called significant, PROMOTE only when the challenger is
// significantly better by at least 5 points, and never ROLLBACK (a
// significantly worse challenger stays in the test). Its thresholds are in
// SeedConfig.
//
// # Thresholds
//
//	                          seed rule            Decide (DefaultConfig)
//	significance              chi-square p < 0.05  always-valid p <= 0.05
//	metric                    accuracy             accuracy (selectable)
//	min labelled per arm      50                   100
//	min difference            1 point              - (any significant gain)
//	promotion                 >= 5 points          significant and sensitivity
//	                                               non-inferior (margin 2 points)
//	min feedback coverage     -                    10% of served predictions
//	rollback                  never                significantly worse, or
//	                                               sensitivity clearly worse
//	                                               than -2 points
package decision
