// Hand-drawn SVG charts: a line chart over time or categories, an interval
// (estimate with confidence interval) chart, a 2x2 confusion heatmap and
// horizontal bars. Each chart replaces the content of its container and is
// labelled for screen readers (role="img" with an aria-label).
const NS = 'http://www.w3.org/2000/svg';

export const COLORS = { champion: '#1f5f99', challenger: '#a8520b' };

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) if (v != null) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}

function svgRoot(width, height, label) {
  return el('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img', 'aria-label': label, preserveAspectRatio: 'xMinYMin meet' });
}

function empty(container, text) {
  const p = document.createElement('p');
  p.className = 'empty';
  p.textContent = text;
  container.replaceChildren(p);
}

function niceTicks(min, max, count = 5) {
  if (max <= min) return [min];
  const step0 = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= step0) || step0;
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

// lineChart draws series [{name, color, dash, points: [[x, y]]}] where x is a
// time (ms) or a category index (with options.categories). options: yMin,
// yMax, yFormat, label, height.
export function lineChart(container, series, options = {}) {
  const pts = series.flatMap(s => s.points);
  if (!pts.length) return empty(container, options.emptyText || 'No data yet.');
  const W = 640, H = options.height || 230, L = 52, R = 12, T = 12, B = 30;
  const xs = pts.map(p => p[0]);
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const ys = pts.map(p => p[1]);
  const y0 = options.yMin ?? Math.min(0, ...ys);
  let y1 = options.yMax ?? Math.max(...ys);
  if (y1 <= y0) y1 = y0 + 1;
  const sx = x => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = y => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const yFormat = options.yFormat || (v => String(v));
  const svg = svgRoot(W, H, options.label || 'line chart');
  const grid = el('g', { class: 'grid' });
  const axis = el('g', { class: 'axis' });
  for (const v of niceTicks(y0, y1, 4)) {
    grid.append(el('line', { x1: L, x2: W - R, y1: sy(v), y2: sy(v) }));
    axis.append(el('text', { x: L - 6, y: sy(v) + 4, 'text-anchor': 'end', 'font-size': 11 }, yFormat(v)));
  }
  axis.append(el('line', { x1: L, x2: W - R, y1: H - B, y2: H - B }));
  axis.append(el('line', { x1: L, x2: L, y1: T, y2: H - B }));
  if (options.categories) {
    const every = Math.max(1, Math.ceil(options.categories.length / 8));
    options.categories.forEach((c, i) => {
      if (i % every === 0) axis.append(el('text', { x: sx(i), y: H - B + 16, 'text-anchor': 'middle', 'font-size': 11 }, c));
    });
  } else {
    let prev = '';
    for (let i = 0; i <= 4; i++) {
      const x = x0 + ((x1 - x0) * i) / 4;
      const text = timeFmt.format(new Date(x));
      if (text === prev) continue; // a span of a few seconds
      prev = text;
      axis.append(el('text', { x: sx(x), y: H - B + 16, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle', 'font-size': 11 }, text));
    }
  }
  svg.append(grid, axis);
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join('');
    const path = el('path', { d, fill: 'none', stroke: s.color, 'stroke-width': s.width || 2, 'stroke-dasharray': s.dash ? '6 4' : null });
    path.append(el('title', {}, s.name));
    svg.append(path);
    if (s.points.length < 40 || s.markers) {
      for (const p of s.points) svg.append(el('circle', { cx: sx(p[0]), cy: sy(p[1]), r: 2.6, fill: s.color }));
    }
  }
  const legend = document.createElement('div');
  legend.className = 'legend';
  for (const s of series) {
    const span = document.createElement('span');
    span.textContent = s.name;
    span.style.setProperty('--c', s.color);
    if (s.dash) span.className = 'dash';
    legend.append(span);
  }
  container.replaceChildren(svg, legend);
}

// intervalChart draws rows [{label, color, value, lower, upper}] on 0..1:
// the estimate as a dot, the interval as a bar.
export function intervalChart(container, rows, options = {}) {
  if (!rows.length) return empty(container, 'No labelled cases yet.');
  const W = 640, rowH = 24, L = 210, R = 20, T = 8, B = 24;
  const H = T + rows.length * rowH + B;
  const lo = options.min ?? 0, hi = options.max ?? 1;
  const sx = v => L + ((v - lo) / (hi - lo)) * (W - L - R);
  const svg = svgRoot(W, H, options.label || 'estimates with 95% confidence intervals');
  const grid = el('g', { class: 'grid' });
  const axis = el('g', { class: 'axis' });
  for (const v of niceTicks(lo, hi, 5)) {
    grid.append(el('line', { x1: sx(v), x2: sx(v), y1: T, y2: H - B }));
    axis.append(el('text', { x: sx(v), y: H - B + 15, 'text-anchor': 'middle', 'font-size': 11 }, Math.round(v * 100) + '%'));
  }
  svg.append(grid, axis);
  rows.forEach((r, i) => {
    const y = T + i * rowH + rowH / 2;
    svg.append(el('text', { x: L - 8, y: y + 4, 'text-anchor': 'end', 'font-size': 12 }, r.label));
    if (r.value == null) {
      svg.append(el('text', { x: L + 4, y: y + 4, 'font-size': 11, fill: '#4a5563' }, 'no labelled cases'));
      return;
    }
    const g = el('g');
    g.append(el('title', {}, `${r.label}: ${(r.value * 100).toFixed(1)}% (95% CI ${(r.lower * 100).toFixed(1)}–${(r.upper * 100).toFixed(1)}%)`));
    g.append(el('line', { x1: sx(r.lower), x2: sx(r.upper), y1: y, y2: y, stroke: r.color, 'stroke-width': 6, 'stroke-linecap': 'round', opacity: 0.35 }));
    g.append(el('circle', { cx: sx(r.value), cy: y, r: 5, fill: r.color }));
    svg.append(g);
  });
  container.replaceChildren(svg);
}

// heatmap draws a confusion matrix {tp, fp, fn, tn} as 2x2 cells shaded by
// count: rows are the prediction, columns the ground truth.
export function heatmap(container, c, options = {}) {
  const cells = [
    ['TP', c.tp || 0, 0, 0], ['FP', c.fp || 0, 1, 0],
    ['FN', c.fn || 0, 0, 1], ['TN', c.tn || 0, 1, 1],
  ];
  const max = Math.max(1, ...cells.map(x => x[1]));
  const W = 300, H = 250, L = 92, T = 44, S = 96;
  const color = options.color || '#1f5f99';
  const svg = svgRoot(W, H, `${options.title || 'confusion matrix'}: TP ${c.tp || 0}, FP ${c.fp || 0}, FN ${c.fn || 0}, TN ${c.tn || 0}`);
  svg.append(el('text', { x: L + S, y: 14, 'text-anchor': 'middle', 'font-size': 12, 'font-weight': 600 }, 'Ground truth'));
  svg.append(el('text', { x: L + S / 2, y: T - 8, 'text-anchor': 'middle', 'font-size': 11 }, 'PNEUMONIA'));
  svg.append(el('text', { x: L + S * 1.5, y: T - 8, 'text-anchor': 'middle', 'font-size': 11 }, 'NORMAL'));
  svg.append(el('text', { x: 12, y: T + S, 'font-size': 12, 'font-weight': 600, transform: `rotate(-90 12 ${T + S})`, 'text-anchor': 'middle' }, 'Predicted'));
  svg.append(el('text', { x: L - 6, y: T + S / 2 + 4, 'text-anchor': 'end', 'font-size': 11 }, 'PNEUMONIA'));
  svg.append(el('text', { x: L - 6, y: T + S * 1.5 + 4, 'text-anchor': 'end', 'font-size': 11 }, 'NORMAL'));
  for (const [name, n, col, row] of cells) {
    const share = n / max;
    const x = L + col * S, y = T + row * S;
    const g = el('g', { 'data-cell': name.toLowerCase() });
    g.append(el('rect', { x, y, width: S - 2, height: S - 2, fill: color, 'fill-opacity': (0.06 + 0.9 * share).toFixed(3), stroke: '#c5ccd4' }));
    const ink = share > 0.5 ? '#ffffff' : '#1b2430';
    g.append(el('text', { x: x + S / 2, y: y + S / 2 - 4, 'text-anchor': 'middle', 'font-size': 12, fill: ink }, name));
    g.append(el('text', { x: x + S / 2, y: y + S / 2 + 16, 'text-anchor': 'middle', 'font-size': 18, 'font-weight': 700, fill: ink }, String(n)));
    svg.append(g);
  }
  container.replaceChildren(svg);
}

// bars draws rows [{label, value}] as horizontal bars with their counts.
export function bars(container, rows, options = {}) {
  if (!rows.length) return empty(container, options.emptyText || 'None.');
  const W = 640, rowH = 24, L = 220, R = 60, T = 6;
  const H = T * 2 + rows.length * rowH;
  const max = Math.max(1, ...rows.map(r => r.value));
  const svg = svgRoot(W, H, options.label || 'counts');
  rows.forEach((r, i) => {
    const y = T + i * rowH;
    svg.append(el('text', { x: L - 8, y: y + 16, 'text-anchor': 'end', 'font-size': 12 }, r.label));
    svg.append(el('rect', { x: L, y: y + 4, height: rowH - 8, width: Math.max(1, (r.value / max) * (W - L - R)), fill: options.color || '#4a6b8a' }));
    svg.append(el('text', { x: L + (r.value / max) * (W - L - R) + 6, y: y + 16, 'font-size': 12 }, String(r.value)));
  });
  container.replaceChildren(svg);
}
