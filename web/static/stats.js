// Small statistics for the pages: Wilson score intervals for proportions,
// as the Go package stats computes them (stats.Wilson, statsmodels
// proportion_confint method "wilson").

// Z95 is the standard normal quantile for a two-sided 95% interval.
export const Z95 = 1.959963984540054;

// wilson returns {lower, upper} of the Wilson score interval of x successes
// in n trials with critical value z; n = 0 gives [0, 1].
export function wilson(x, n, z = Z95) {
  if (!(n > 0)) return { lower: 0, upper: 1 };
  const p = x / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { lower: Math.max(center - half, 0), upper: Math.min(center + half, 1) };
}

// proportion is x/n with its 95% Wilson interval (value null when n = 0).
export function proportion(x, n) {
  return { x, n, value: n > 0 ? x / n : null, ...wilson(x, n) };
}

// clinical returns accuracy, sensitivity, specificity, PPV and NPV of a
// confusion matrix {tp, fp, tn, fn}, each with its interval.
export function clinical(c = {}) {
  const tp = c.tp || 0, fp = c.fp || 0, tn = c.tn || 0, fn = c.fn || 0;
  return {
    accuracy: proportion(tp + tn, tp + fp + tn + fn),
    sensitivity: proportion(tp, tp + fn),
    specificity: proportion(tn, tn + fp),
    ppv: proportion(tp, tp + fp),
    npv: proportion(tn, tn + fn),
  };
}

// pct formats a share 0..1 as a percentage ("—" for null).
export function pct(v, digits = 1) {
  return v == null || Number.isNaN(v) ? '—' : (100 * v).toFixed(digits) + '%';
}

// interval formats {value, lower, upper} as "85.0% (80.1–89.2%)".
export function interval(p, digits = 1) {
  if (p.value == null) return '—';
  return `${pct(p.value, digits)} (${(100 * p.lower).toFixed(digits)}–${pct(p.upper, digits)})`;
}
