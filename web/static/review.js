// The radiologist review page: predictions without feedback, newest or oldest first;
// the selected case's de-identified image and the model's prediction; the
// reading form that posts POST /v1/feedback.
import { ProblemError, api, apiJSON, experiment, linkPages, loadUser } from './api.js';

const exp = experiment();
const PAGE = 50;
const $ = id => document.getElementById(id);

const state = {
  items: [],
  next: '',
  pending: null,
  selected: null,     // the item shown in the form
  feedbackId: '',     // one per form display: a retry or a second press reuses it
  submitting: false,
  imageURL: '',
  loading: false,
};
window.hapReview = state; // for tests

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map(v => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function fmtTime(t) { return t ? new Date(t).toLocaleString(undefined, { hour12: false }) : '—'; }

function badge(label) {
  const b = document.createElement('span');
  b.className = `badge ${label === 'PNEUMONIA' || label === 'NORMAL' ? label : ''}`;
  b.textContent = label || '?';
  return b;
}

function renderQueue() {
  const ul = $('queue');
  ul.replaceChildren(...state.items.map(item => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.requestId = item.request_id;
    b.setAttribute('aria-pressed', String(state.selected?.request_id === item.request_id));
    const l1 = document.createElement('span');
    l1.append(badge(item.label), ` ${(100 * item.probability).toFixed(1)}%`);
    const l2 = document.createElement('span');
    l2.className = 'muted small';
    l2.textContent = fmtTime(item.completed_at);
    const l3 = document.createElement('span');
    l3.className = `small arm-${item.arm}`;
    l3.textContent = `${item.arm} · ${item.served_model_name} v${item.model_version}`;
    const l4 = document.createElement('span');
    l4.className = 'muted small';
    l4.textContent = item.request_id.slice(0, 13);
    b.append(l1, l2, l3, l4);
    b.addEventListener('click', () => select(item));
    li.append(b);
    return li;
  }));
  $('pending').textContent = state.pending != null ? `· ${state.pending} pending` : '';
  $('more').hidden = !state.next;
  if (!state.items.length && !state.loading) $('queue-status').textContent = 'No predictions await review with these filters.';
}

async function loadQueue(reset) {
  if (state.loading) {
    // A filter change (reset) while a page loads must not be lost: load
    // again from the top once the running load ends.
    if (reset) state.reloadPending = true;
    return;
  }
  state.loading = true;
  $('queue-status').textContent = 'Loading…';
  const q = new URLSearchParams({ experiment: exp, limit: String(PAGE) });
  const model = $('filter-model').value, predicted = $('filter-predicted').value;
  if (model) q.set('model', model);
  if (predicted) q.set('predicted', predicted);
  if ($('filter-order').value === 'oldest') q.set('order', 'oldest');
  if (!reset && state.next) q.set('before', state.next);
  try {
    const page = await apiJSON(`/v1/review/queue?${q}`);
    const items = page.items || [];
    if (reset) state.items = items;
    else {
      const seen = new Set(state.items.map(i => i.request_id));
      state.items.push(...items.filter(i => !seen.has(i.request_id)));
    }
    state.next = page.next || '';
    state.pending = page.pending ?? null;
    $('queue-status').textContent = '';
  } catch (err) {
    $('queue-status').textContent = err.status === 404 && err.problem?.type?.endsWith('/route-not-found')
      ? 'The review queue is not available on this server.'
      : `Could not load the queue: ${err.message}`;
  } finally {
    state.loading = false;
  }
  renderQueue();
  if (state.reloadPending) {
    state.reloadPending = false;
    await loadQueue(true);
  }
}

async function loadModels() {
  try {
    const m = await apiJSON('/v1/models');
    const sel = $('filter-model');
    for (const a of m.arms || []) {
      if ([...sel.options].some(o => o.value === a.served_model_name)) continue;
      const o = document.createElement('option');
      o.value = a.served_model_name;
      o.textContent = `${a.served_model_name} (${a.arm})`;
      sel.append(o);
    }
  } catch { /* the filter keeps "All models" */ }
}

async function select(item) {
  state.selected = item;
  state.feedbackId = uuid();
  state.submitting = false;
  $('no-case').hidden = true;
  $('case').hidden = false;
  const info = $('case-info');
  info.replaceChildren();
  const add = (k, v) => {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd');
    if (v?.nodeType) dd.append(v); else dd.textContent = v ?? '—';
    info.append(dt, dd);
  };
  const pred = document.createElement('span');
  pred.append(badge(item.label), ` probability ${(100 * item.probability).toFixed(1)}%`);
  add('Model says', pred);
  add('Model', `${item.served_model_name} v${item.model_version} (${item.arm})`);
  add('Completed', fmtTime(item.completed_at));
  add('Request', item.request_id);
  for (const r of document.querySelectorAll('input[name="ground_truth"]')) r.checked = false;
  $('notes').value = '';
  $('confidence').value = '0.8';
  $('confidence-out').textContent = '0.80';
  $('form-message').textContent = '';
  $('form-message').className = '';
  updateSubmit();
  renderQueue();
  await showImage(item);
}

async function showImage(item) {
  const box = $('xray');
  box.replaceChildren(Object.assign(document.createElement('span'), { textContent: 'Loading image…' }));
  if (state.imageURL) { URL.revokeObjectURL(state.imageURL); state.imageURL = ''; }
  try {
    const resp = await api(item.image_url || `/v1/review/${encodeURIComponent(item.request_id)}/image`, { headers: { Accept: 'image/*' } });
    const blob = await resp.blob();
    if (state.selected !== item) return;
    state.imageURL = URL.createObjectURL(blob);
    const img = document.createElement('img');
    img.src = state.imageURL;
    img.alt = `Chest X-ray of request ${item.request_id}, de-identified`;
    box.replaceChildren(img);
  } catch (err) {
    if (state.selected === item) box.replaceChildren(Object.assign(document.createElement('span'), { textContent: `Image unavailable: ${err.message}` }));
  }
}

function chosen() { return document.querySelector('input[name="ground_truth"]:checked')?.value || ''; }
function updateSubmit() { $('submit').disabled = state.submitting || !state.selected || !chosen(); }

async function submit(ev) {
  ev?.preventDefault();
  const item = state.selected;
  const truth = chosen();
  if (!item || !truth || state.submitting) return;
  state.submitting = true;
  updateSubmit();
  const msg = $('form-message');
  msg.className = ''; msg.textContent = 'Submitting…';
  const body = {
    feedback_id: state.feedbackId, request_id: item.request_id, ground_truth: truth,
    confidence: Number($('confidence').value), notes: $('notes').value.trim(), source: 'review-ui',
  };
  let done = false;
  for (let attempt = 0; attempt < 3 && !done; attempt++) {
    try {
      await apiJSON('/v1/feedback', { method: 'POST', json: body });
      done = true;
    } catch (err) {
      // Retry only transport errors and 5xx, with the same feedback_id.
      if (err instanceof ProblemError && err.status < 500) {
        msg.className = 'error';
        msg.textContent = err.problem?.detail || err.message;
        state.submitting = false;
        updateSubmit();
        return;
      }
      if (attempt === 2) {
        msg.className = 'error';
        msg.textContent = `Not recorded: ${err.message}. Press Submit to try again.`;
        state.submitting = false;
        updateSubmit();
        return;
      }
      await new Promise(r => setTimeout(r, 500 * (attempt + 1)));
    }
  }
  // Recorded: the case leaves the queue; the next one is shown, unanswered.
  const idx = state.items.findIndex(i => i.request_id === item.request_id);
  if (idx >= 0) state.items.splice(idx, 1);
  if (state.pending != null) state.pending = Math.max(0, state.pending - 1);
  const notice = $('notice');
  notice.hidden = false;
  notice.textContent = `Recorded ${truth} for request ${item.request_id}.`;
  state.selected = null;
  const next = state.items[Math.min(idx, state.items.length - 1)];
  if (next) select(next);
  else { $('case').hidden = true; $('no-case').hidden = false; state.submitting = false; renderQueue(); }
  if (state.items.length < 10 && state.next) loadQueue(false);
}

function onKey(ev) {
  if (ev.target.closest?.('textarea, select, input[type="text"], dialog') || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (!state.selected) return;
  const k = ev.key.toLowerCase();
  if (k === 'n' || k === 'p') {
    $(k === 'n' ? 'gt-normal' : 'gt-pneumonia').checked = true;
    updateSubmit();
    ev.preventDefault();
  } else if (ev.key === 'Enter' && !ev.target.closest?.('button')) {
    submit(ev);
  }
}

async function main() {
  $('experiment').textContent = exp;
  linkPages();
  await loadUser();
  $('verdict').addEventListener('submit', submit);
  $('verdict').addEventListener('change', updateSubmit);
  $('confidence').addEventListener('input', () => { $('confidence-out').textContent = Number($('confidence').value).toFixed(2); });
  $('filters').addEventListener('change', () => loadQueue(true));
  $('refresh').addEventListener('click', () => loadQueue(true));
  $('more').addEventListener('click', () => loadQueue(false));
  document.addEventListener('keydown', onKey);
  document.addEventListener('hap:token', () => loadQueue(true));
  await Promise.all([loadModels(), loadQueue(true)]);
}

main();
