// Package driftstat holds what the platform needs to tell whether a model
// sees data unlike its training data: the model's training Reference (the
// distribution of its input statistics and positive predictions on its own
// training images, with its own preprocessing), the two-sample statistics
// that compare a window of production results with it (PSI, Kolmogorov-
// Smirnov), the sliding Window of results kept per (experiment, arm, model
// version), and the evaluation rule with its thresholds (Config, Evaluate).
//
// Three signals, per window:
//
//   - input_psi: population stability index of the pooled input histogram
//     (the proto.InputStats histograms of the window, summed) against the
//     reference's pooled histogram. Warn above 0.1, alert above 0.2 (the
//     usual reading of PSI: below 0.1 no shift, 0.1-0.2 moderate, above
//     0.2 significant).
//   - input_mean_ks: two-sample Kolmogorov-Smirnov statistic D of the
//     per-image tensor means against the reference's, with its asymptotic
//     p-value. Warn below p 0.01, alert below p 0.001.
//   - positive_rate: the window's share of positive predictions against the
//     reference's positive rate at the same threshold. Alert when the
//     difference is beyond the binomial bound z(1-alpha/2) *
//     sqrt(p0(1-p0)/n) for alpha 0.001 (warn: 0.01) and at least
//     MinRateDifference (0.05) in absolute terms, so that a large window
//     does not alert on a clinically meaningless difference.
//
// No signal leaves "insufficient" before the window holds MinWindow results
// (100 by default): no alert on a handful of images.
//
// The package is pure computation on plain data; it depends only on proto and
// stats. The reference travels inside the model's ONNX file under the
// metadata_props key PropertyKey (see `hap models reference`).
package driftstat
