// The operations dashboard: live from GET /v1/events (metrics snapshots,
// decisions, drift, alerts, rejected inputs) plus GET /v1/rollout/{exp}.
import { apiJSON, experiment, hasRole, linkPages, loadUser } from './api.js';
import { openEvents } from './sse.js';
import { clinical, interval, pct } from './stats.js';
import { COLORS, bars, heatmap, intervalChart, lineChart } from './charts.js';

const exp = experiment();
const ARMS = ['champion', 'challenger'];
const MAX_SNAPSHOTS = 300;

const state = {
  user: null,
  snapshots: [],          // oldest first, unique by snapshot_id
  snapshotIds: new Set(),
  decisions: new Map(),   // decision_id -> DecisionEvent
  drift: new Map(),       // arm/served_model_name/model_version -> DriftReport
  alerts: new Map(),      // arm/served_model_name/model_version/signal -> DriftAlert
  rejected: {},
  rollout: null,
  rolloutError: '',
};
// For tests and for the curious: what the page has received.
window.hapDashboard = { get snapshots() { return state.snapshots.length; }, get latest() { return state.snapshots.at(-1) || null; }, events: 0 };

const $ = id => document.getElementById(id);
const h = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v; else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'scope' || k === 'colspan') e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children.flat()) if (c != null) e.append(c.nodeType ? c : String(c));
  return e;
};
const fmtInt = n => (n ?? 0).toLocaleString('en-US');
// Go's zero time (0001-01-01) means unknown.
const fmtTime = t => (t && Date.parse(t) > 0 ? new Date(t).toLocaleString(undefined, { hour12: false }) : '—');
const armClass = arm => (ARMS.includes(arm) ? `arm-${arm}` : '');
const modelLabel = m => `${m.served_model_name || '?'} v${m.model_version || '?'}`;

let scheduled = false;
function render() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    for (const f of [renderModels, renderTraffic, renderCoverage, renderIntervals, renderConfusion, renderDaily, renderDecision, renderRollout, renderHistory, renderDrift, renderRejected]) {
      try { f(); } catch (err) { console.error(f.name, err); }
    }
  });
}

function latest() { return state.snapshots.at(-1); }
function modelsOf(s) {
  const by = new Map((s?.models || []).map(m => [m.arm, m]));
  return ARMS.filter(a => by.has(a)).map(a => by.get(a));
}

function renderModels() {
  const s = latest();
  if (!s) return;
  $('snapshot-time').textContent = `· snapshot ${fmtTime(s.generated_at)}`;
  const rows = modelsOf(s).map(m => {
    const c = clinical(m.confusion);
    const lat = m.latency_ms;
    return h('tr', { 'data-arm': m.arm },
      h('th', { scope: 'row', class: armClass(m.arm) }, m.arm),
      h('td', {}, modelLabel(m)),
      h('td', { class: 'num', 'data-testid': `predictions-${m.arm}` }, fmtInt(m.predictions)),
      h('td', { class: 'num' }, `${pct(m.traffic_actual)} / ${pct(m.traffic_configured, 0)}`),
      h('td', { class: 'num', 'data-testid': `feedback-${m.arm}` }, fmtInt(m.feedback)),
      h('td', { class: 'num' }, pct(m.coverage)),
      h('td', { 'data-testid': `accuracy-${m.arm}` }, interval(c.accuracy)),
      h('td', {}, interval(c.sensitivity)),
      h('td', {}, interval(c.specificity)),
      h('td', { class: 'num' }, lat && lat.n ? `${lat.p50.toFixed(1)} / ${lat.p90.toFixed(1)} / ${lat.p99.toFixed(1)} ms` : '—'),
    );
  });
  $('models-table').tBodies[0].replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 10, class: 'empty' }, 'No results yet.'))]));
  const fmtLat = lat => (lat && lat.n ? `${lat.p50.toFixed(1)} / ${lat.p90.toFixed(1)} / ${lat.p99.toFixed(1)} ms` : '—');
  const versions = (s.by_model || []).map(m => {
    const c = clinical(m.confusion);
    return h('tr', { 'data-model': modelLabel(m) },
      h('th', { scope: 'row' }, modelLabel(m)),
      h('td', { class: armClass(m.arm) }, m.arm || '—'),
      h('td', { class: 'num' }, fmtInt(m.predictions)),
      h('td', { class: 'num' }, pct(m.traffic_actual)),
      h('td', { class: 'num' }, fmtInt(m.feedback)),
      h('td', {}, interval(c.accuracy)),
      h('td', {}, interval(c.sensitivity)),
      h('td', {}, interval(c.specificity)),
      h('td', { class: 'num' }, fmtLat(m.latency_ms)),
    );
  });
  $('versions-table').tBodies[0].replaceChildren(...(versions.length ? versions : [h('tr', {}, h('td', { colspan: 9, class: 'empty' }, 'No per-version numbers in the snapshots.'))]));
  const total = modelsOf(s).reduce((a, m) => a + (m.predictions || 0), 0);
  $('models-note').textContent = `${fmtInt(total)} predictions · ${fmtInt(s.pending_feedback)} feedback waiting for its prediction · mode ${s.mode || '—'} · configured split ${s.configured_split?.champion ?? '?'}/${s.configured_split?.challenger ?? '?'}`;
}

// Actual share of served predictions between snapshots (over up to 5
// snapshots back), the configured split as dashed lines.
function renderTraffic() {
  const snaps = state.snapshots;
  const series = ARMS.flatMap(arm => [
    { name: `${arm} actual`, color: COLORS[arm], points: [] },
    { name: `${arm} configured`, color: COLORS[arm], dash: true, points: [] },
  ]);
  const served = s => Object.fromEntries(modelsOf(s).map(m => [m.arm, m.served ?? m.predictions ?? 0]));
  snaps.forEach((s, i) => {
    const t = Date.parse(s.generated_at);
    const now = served(s);
    let shares = null;
    const j = Math.max(0, i - 5);
    if (i > 0) {
      const then = served(snaps[j]);
      const d = ARMS.map(a => (now[a] || 0) - (then[a] || 0));
      const total = d[0] + d[1];
      if (total > 0) shares = d.map(x => x / total);
    }
    if (!shares) shares = ARMS.map(a => modelsOf(s).find(m => m.arm === a)?.traffic_actual ?? 0);
    ARMS.forEach((arm, k) => {
      series[2 * k].points.push([t, shares[k]]);
      const m = modelsOf(s).find(m => m.arm === arm);
      const split = s.configured_split || {};
      const sum = (split.champion || 0) + (split.challenger || 0);
      const conf = m?.traffic_configured ?? (sum ? (split[arm] || 0) / sum : 0);
      series[2 * k + 1].points.push([t, conf]);
    });
  });
  lineChart($('chart-traffic'), series, { yMin: 0, yMax: 1, yFormat: v => Math.round(v * 100) + '%', label: 'traffic share per arm over time, actual and configured' });
}

function renderCoverage() {
  const series = ARMS.map(arm => ({ name: arm, color: COLORS[arm], points: [] }));
  for (const s of state.snapshots) {
    const t = Date.parse(s.generated_at);
    for (const m of modelsOf(s)) series[ARMS.indexOf(m.arm)].points.push([t, m.coverage || 0]);
  }
  lineChart($('chart-coverage'), series, { yMin: 0, yMax: 1, yFormat: v => Math.round(v * 100) + '%', label: 'feedback coverage per model over time' });
}

function renderIntervals() {
  const rows = [];
  for (const m of modelsOf(latest())) {
    const c = clinical(m.confusion);
    for (const k of ['accuracy', 'sensitivity', 'specificity']) {
      rows.push({ label: `${m.arm} · ${k}`, color: COLORS[m.arm], ...c[k] });
    }
  }
  intervalChart($('chart-intervals'), rows, { label: 'accuracy, sensitivity and specificity per model with 95% Wilson confidence intervals' });
}

function renderConfusion() {
  const models = modelsOf(latest());
  for (const arm of ARMS) {
    const m = models.find(x => x.arm === arm);
    $(`cm-${arm}-title`).textContent = m ? `${arm} · ${modelLabel(m)}` : `${arm} · no results`;
    heatmap($(`cm-${arm}`), m?.confusion || {}, { color: COLORS[arm], title: `${arm} confusion matrix` });
  }
}

function renderDaily() {
  const daily = latest()?.daily || [];
  const dates = [...new Set(daily.map(d => d.date))].sort();
  // One series per model version (the daily numbers are per version,
  // whichever arm served it), coloured by the arm it was last seen in;
  // further versions of the same arm get a lighter shade.
  const series = [];
  const byModel = new Map();
  const perArm = {};
  for (const d of daily) {
    const name = modelLabel(d);
    if (!byModel.has(name)) {
      const n = perArm[d.arm] = (perArm[d.arm] || 0) + 1;
      const s = { name, color: COLORS[d.arm] || '#555', dash: n > 1, markers: true, points: [] };
      byModel.set(name, s);
      series.push(s);
    }
    if (!d.feedback) continue;
    const c = d.confusion ? clinical(d.confusion).accuracy.value : d.accuracy;
    byModel.get(name).points.push([dates.indexOf(d.date), c ?? d.accuracy]);
  }
  for (const s of series) s.points.sort((a, b) => a[0] - b[0]);
  lineChart($('chart-daily'), series, {
    categories: dates, yMin: 0, yMax: 1, yFormat: v => Math.round(v * 100) + '%', height: 190,
    label: 'daily accuracy per model', emptyText: daily.length ? 'No labelled cases per day yet.' : 'No daily numbers in the snapshots.',
  });
  const table = $('daily-table');
  if (!daily.length) { table.replaceChildren(); return; }
  table.replaceChildren(
    h('thead', {}, h('tr', {}, ...['Date', 'Last arm', 'Model', 'Predictions', 'Feedback', 'Accuracy (95% CI)'].map(t => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, ...daily.slice().reverse().slice(0, 14).map(d => h('tr', {},
      h('td', {}, d.date), h('td', { class: armClass(d.arm) }, d.arm), h('td', {}, modelLabel(d)),
      h('td', { class: 'num' }, fmtInt(d.predictions)), h('td', { class: 'num' }, fmtInt(d.feedback)),
      h('td', {}, d.confusion ? interval(clinical(d.confusion).accuracy) : pct(d.accuracy))))),
  );
}

function latestDecision() {
  let best = null;
  for (const d of state.decisions.values()) if (!best || d.decided_at > best.decided_at) best = d;
  return best;
}

function kv(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v, attrs]) => [h('dt', {}, k), h('dd', attrs || {}, v ?? '—')]));
}

function renderDecision() {
  const d = latestDecision();
  const last = state.rollout?.state?.last;
  if (!d && !last) return;
  const src = d || { action: last.action, reason: last.reason, test: last.test, metric: last.metric, statistic: last.statistic, p_value: last.p_value, difference: last.difference };
  const diff = src.difference || {};
  const fmtDiff = x => (x == null ? '—' : (x >= 0 ? '+' : '') + (100 * x).toFixed(1) + ' pp');
  kv($('decision'), [
    ['Decision', `${src.action || '—'}${src.outcome && src.outcome !== 'none' ? ` (${src.outcome})` : ''}`, { 'data-testid': 'decision-action' }],
    ['Reason', src.reason],
    ['Test', `${src.test || '—'} on ${src.metric || '—'}`],
    ['Statistic', src.statistic != null ? `z = ${Number(src.statistic).toFixed(2)}` : '—'],
    ['Always-valid p', src.p_value != null ? Number(src.p_value).toPrecision(3) : '—'],
    ['Difference', diff.value != null ? `${fmtDiff(diff.value)} (${fmtDiff(diff.lower)} to ${fmtDiff(diff.upper)})` : '—'],
    ['Labelled', d ? `champion ${fmtInt(d.champion_labelled)} · challenger ${fmtInt(d.challenger_labelled)}` : '—'],
    ['More needed', d?.estimated_samples_needed ? `about ${fmtInt(d.estimated_samples_needed)} per arm` : '—'],
    ['By', d ? `${d.actor} · ${fmtTime(d.decided_at)}` : '—'],
  ]);
}

function renderRollout() {
  const r = state.rollout;
  if (!r) {
    if (state.rolloutError) kv($('rollout-summary'), [['Status', state.rolloutError, { class: 'muted' }]]);
    return;
  }
  const e = r.experiment || {};
  const stages = r.stages || [];
  // Challenger at 0% in split mode: nothing is under test (after a
  // promotion or a rollback, until a new rollout starts), as hap monitor says.
  const idle = e.mode !== 'shadow' && e.split && e.split.challenger === 0;
  const stage = idle ? `no challenger under test (champion 100%) · stages ${stages.join(' → ')}%`
    : stages.length ? `${(e.stage ?? 0) + 1} of ${stages.length} (challenger ${stages[e.stage ?? 0] ?? '?'}%) · stages ${stages.join(' → ')}%` : String(e.stage ?? '—');
  kv($('rollout-summary'), [
    ['Stage', stage, { 'data-testid': 'rollout-stage' }],
    ['Split', `champion ${e.split?.champion ?? '?'} / challenger ${e.split?.challenger ?? '?'}`],
    ['Mode', `${e.mode || '—'} · rollout ${r.rollout_mode || '—'} · epoch ${e.epoch ?? '—'}`],
    ['Champion', r.champion_model],
    ['Challenger', r.challenger_model],
    ['Updated', `${fmtTime(e.updated_at)} by ${e.updated_by || '—'}`],
  ]);
  renderApproval(r.state?.pending);
}

let approvalKey = '';
function renderApproval(p) {
  const box = $('approval');
  if (!p) { box.hidden = true; box.replaceChildren(); approvalKey = ''; return; }
  const key = `${p.decision_id}|${state.user?.id}`;
  if (key === approvalKey) return; // keep what the user typed
  approvalKey = key;
  box.hidden = false;
  const head = h('div', { class: 'banner info', role: 'status' },
    `Pending recommendation: ${p.action} from stage ${p.stage_from + 1} to ${p.stage_to + 1} (challenger ${p.split_from?.challenger}% → ${p.split_to?.challenger}%). ${p.reason}`);
  if (!hasRole(state.user, 'approver', 'admin')) {
    box.replaceChildren(head, h('p', { class: 'muted' }, 'Awaiting a person with the approver role.'));
    return;
  }
  const reason = h('textarea', { id: 'approval-reason', name: 'reason' });
  const msg = h('p', { role: 'status', 'aria-live': 'polite' });
  const send = async verb => {
    for (const b of box.querySelectorAll('button')) b.disabled = true;
    msg.className = ''; msg.textContent = verb === 'approve' ? 'Approving…' : 'Rejecting…';
    try {
      await apiJSON(`/v1/rollout/${encodeURIComponent(exp)}/${verb}`, { method: 'POST', json: { reason: reason.value.trim(), by: state.user?.id } });
      msg.className = 'success'; msg.textContent = verb === 'approve' ? 'Approved.' : 'Rejected.';
      approvalKey = '';
      await refreshRollout();
    } catch (err) {
      msg.className = 'error'; msg.textContent = err.message;
      for (const b of box.querySelectorAll('button')) b.disabled = false;
    }
  };
  box.replaceChildren(head,
    h('label', { htmlFor: 'approval-reason' }, 'Reason (recorded in the audit log)'), reason,
    h('div', { class: 'row actions' },
      h('button', { type: 'button', class: 'primary', onclick: () => send('approve') }, 'Approve'),
      h('button', { type: 'button', class: 'danger', onclick: () => send('reject') }, 'Reject')),
    msg);
}

function renderHistory() {
  const hist = (state.rollout?.state?.history || []).slice().reverse().slice(0, 10);
  const decisions = [...state.decisions.values()].sort((a, b) => (a.decided_at < b.decided_at ? 1 : -1)).slice(0, 12);
  const table = $('history-table');
  if (!hist.length && !decisions.length) { table.replaceChildren(h('caption', { class: 'empty' }, 'No stage changes or decisions yet.')); return; }
  const rows = [
    ...hist.map(c => ({ at: c.at, what: `stage ${c.stage_from + 1} → ${c.stage_to + 1}`, action: c.action, split: `${c.split_from?.challenger}% → ${c.split_to?.challenger}%`, actor: c.actor, reason: c.reason + (c.promoted ? ` (promoted ${c.promoted})` : '') })),
    ...decisions.map(d => ({ at: d.decided_at, what: 'decision', action: `${d.action}${d.outcome && d.outcome !== 'none' ? ' · ' + d.outcome : ''}`, split: `${d.split_before?.challenger}% → ${d.split_after?.challenger}%`, actor: d.actor, reason: `p = ${Number(d.p_value).toPrecision(3)}; ${d.reason}` })),
  ].sort((a, b) => (a.at < b.at ? 1 : -1)).slice(0, 16);
  table.replaceChildren(
    h('thead', {}, h('tr', {}, ...['When', 'What', 'Action', 'Challenger share', 'By', 'Reason'].map(t => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, ...rows.map(r => h('tr', {}, h('td', {}, fmtTime(r.at)), h('td', {}, r.what), h('td', {}, r.action), h('td', {}, r.split), h('td', {}, r.actor), h('td', {}, r.reason)))),
  );
}

// driftKey names the model version an arm serves (a drift report or alert).
const driftKey = r => `${r.arm}/${r.served_model_name}/${r.model_version}`;

// servedKeys are the drift keys of what each arm serves now (latest
// snapshot); null before any snapshot.
function servedKeys() {
  const models = latest()?.models;
  return models ? new Set(models.filter(m => m.served_model_name).map(driftKey)) : null;
}

// stillFiring: an alert is shown while its model version is still served
// and no later report puts its signal back below the alert level (an alert
// whose monitor restarted, or whose model was retired, never gets its
// "resolved" otherwise).
function stillFiring(a, served) {
  if (a.status !== 'firing') return false;
  if (served && !served.has(driftKey(a))) return false;
  const rep = state.drift.get(driftKey(a));
  if (!rep || !(Date.parse(rep.evaluated_at) > Date.parse(a.at))) return true;
  const sig = (rep.signals || []).find(s => s.name === a.signal);
  return !sig || sig.level === 'alert';
}

function renderDrift() {
  const served = servedKeys();
  const firing = [...state.alerts.values()].filter(a => stillFiring(a, served));
  const banner = $('alert-banner');
  banner.hidden = !firing.length;
  banner.textContent = firing.length
    ? `Drift alert: ${firing.map(a => `${a.arm} ${a.served_model_name || ''} v${a.model_version || '?'} ${a.signal} = ${Number(a.value).toFixed(3)} (threshold ${Number(a.threshold).toFixed(3)})${a.reason ? ': ' + a.reason : ''}`).join('; ')}`
    : '';
  const reports = [...state.drift.values()].filter(r => !served || served.has(driftKey(r)))
    .sort((a, b) => ARMS.indexOf(a.arm) - ARMS.indexOf(b.arm));
  if (!reports.length) return;
  const rows = reports.flatMap(r => (r.signals?.length ? r.signals : [{ name: '—', level: r.level }]).map((s, i) => h('tr', {},
    i === 0 ? h('th', { scope: 'row', class: armClass(r.arm), rowSpan: r.signals?.length || 1 }, `${r.arm} · ${modelLabel(r)}`) : null,
    h('td', {}, s.name),
    h('td', { class: `level-${s.level}` }, s.level),
    h('td', { class: 'num' }, s.value != null ? Number(s.value).toFixed(3) : '—'),
    h('td', { class: 'num' }, s.warn != null ? `${Number(s.warn).toFixed(3)} / ${Number(s.alert).toFixed(3)}` : '—'),
    h('td', { class: 'num' }, s.n != null ? fmtInt(s.n) : '—'),
  )));
  $('drift').replaceChildren(h('table', { class: 'small' },
    h('thead', {}, h('tr', {}, ...['Model', 'Signal', 'Level', 'Value', 'Warn / alert', 'n'].map(t => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, ...rows)));
}

function renderRejected() {
  const rows = Object.entries(state.rejected).map(([label, value]) => ({ label, value })).sort((a, b) => b.value - a.value);
  bars($('chart-rejected'), rows, { emptyText: 'No rejected inputs.', label: 'rejected inputs by reason code' });
}

function onEvent(ev) {
  window.hapDashboard.events++;
  let data;
  try { data = JSON.parse(ev.data); } catch { return; }
  switch (ev.type) {
    case 'snapshot':
      if (data.snapshot_id && state.snapshotIds.has(data.snapshot_id)) return;
      state.snapshotIds.add(data.snapshot_id);
      state.snapshots.push(data);
      state.snapshots.sort((a, b) => (a.generated_at < b.generated_at ? -1 : 1));
      if (state.snapshots.length > MAX_SNAPSHOTS) for (const s of state.snapshots.splice(0, state.snapshots.length - MAX_SNAPSHOTS)) state.snapshotIds.delete(s.snapshot_id);
      break;
    case 'decision':
      state.decisions.set(data.decision_id, data);
      if (state.decisions.size > 400) state.decisions.delete(state.decisions.keys().next().value);
      refreshRolloutSoon();
      break;
    case 'drift': {
      const r = data.data || {};
      state.drift.set(driftKey(r), r);
      break;
    }
    case 'alert': {
      const a = data.data || {};
      state.alerts.set(`${driftKey(a)}/${a.signal}`, { ...a, subject: data.subject });
      break;
    }
    case 'rejected':
      state.rejected = data || {};
      break;
    default:
      return;
  }
  render();
}

async function refreshRollout() {
  try {
    state.rollout = await apiJSON(`/v1/rollout/${encodeURIComponent(exp)}`);
    state.rolloutError = '';
  } catch (err) {
    state.rolloutError = err.status === 404 ? 'No rollout controller runs this experiment.' : `Rollout status unavailable: ${err.message}`;
  }
  render();
}
let rolloutTimer = null;
function refreshRolloutSoon() {
  clearTimeout(rolloutTimer);
  rolloutTimer = setTimeout(refreshRollout, 300);
}

const CONN = { connecting: ['Connecting…', 'wait'], open: ['Live', 'live'], reconnecting: ['Reconnecting…', 'down'], signin: ['Sign-in needed', 'down'] };

async function main() {
  $('experiment').textContent = exp;
  linkPages();
  state.user = await loadUser();
  render();
  openEvents(`/v1/events?experiment=${encodeURIComponent(exp)}`, {
    onEvent,
    onState: s => { const [text, cls] = CONN[s] || [s, 'wait']; $('conn').textContent = text; $('conn').className = `pill ${cls}`; },
  });
  await refreshRollout();
  setInterval(refreshRollout, 30000);
  document.addEventListener('hap:token', async () => { state.user = await loadUser(); approvalKey = ''; refreshRollout(); });
}

main();
