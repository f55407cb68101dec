// Browser test of the dashboard and the review page, driven by
// web/browser_test.go against a running platform. Environment:
//   HAP_BASE            platform URL (http://127.0.0.1:PORT)
//   HAP_TOKEN           bearer token of a radiologist + approver
//   HAP_EXPERIMENT      experiment name
//   HAP_MORE_FEEDBACK   JSON [{request_id, ground_truth}] sent while the dashboard is open
//   HAP_ARTIFACTS       folder for screenshots
//   HAP_NODE_MODULES    folder holding playwright-core
//   HAP_CHROMIUM        chromium executable
// Exits 0 when every check passes; prints one line per step.
import { createRequire } from 'node:module';
import path from 'node:path';

const env = k => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const BASE = env('HAP_BASE'), TOKEN = env('HAP_TOKEN'), EXP = env('HAP_EXPERIMENT');
const MORE = JSON.parse(env('HAP_MORE_FEEDBACK'));
const OUT = env('HAP_ARTIFACTS');
const { chromium } = createRequire(path.join(env('HAP_NODE_MODULES'), 'x.js'))('playwright-core');

const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);
const sleep = ms => new Promise(r => setTimeout(r, ms));
function check(cond, msg) { if (!cond) throw new Error('check failed: ' + msg); }
async function until(what, fn, timeout = 20000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch (err) { last = err; }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ': ' + last.message : ''}`);
    await sleep(200);
  }
}
async function apiGet(p) {
  const r = await fetch(BASE + p, { headers: { Authorization: `Bearer ${TOKEN}` } });
  if (!r.ok) throw new Error(`GET ${p}: ${r.status} ${await r.text()}`);
  return r.json();
}
async function metrics() {
  const s = await apiGet(`/v1/metrics/${EXP}`);
  const by = Object.fromEntries(s.models.map(m => [m.arm, m]));
  const total = k => s.models.reduce((a, m) => a + m[k], 0);
  return { by, predictions: total('predictions'), feedback: total('feedback') };
}
const num = s => Number(String(s).replace(/[^0-9.-]/g, ''));
async function pageNumbers(page) {
  return page.evaluate(() => {
    const out = {};
    for (const el of document.querySelectorAll('[data-testid]')) out[el.dataset.testid] = el.textContent;
    return out;
  });
}

const browser = await chromium.launch({
  executablePath: process.env.HAP_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  timeout: 30000,
});
const errors = [];
try {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, deviceScaleFactor: 1 });
  ctx.setDefaultTimeout(20000);

  // 1. The dashboard shows the numbers of GET /v1/metrics.
  const dash = await ctx.newPage();
  dash.on('pageerror', e => errors.push('dashboard: ' + e.message));
  dash.on('console', m => { if (m.type() === 'error') errors.push('dashboard console: ' + m.text()); });
  await dash.goto(`${BASE}/dashboard?experiment=${EXP}#token=${encodeURIComponent(TOKEN)}`);
  check(!(await dash.evaluate(() => location.hash)), 'the token is removed from the address bar');
  await dash.waitForSelector('[data-testid="predictions-champion"]');
  let m = await metrics();
  await until('dashboard numbers equal GET /v1/metrics', async () => {
    m = await metrics();
    const p = await pageNumbers(dash);
    return Object.keys(m.by).every(arm => num(p[`predictions-${arm}`]) === m.by[arm].predictions && num(p[`feedback-${arm}`]) === m.by[arm].feedback);
  });
  const user = await dash.textContent('#user');
  check(user.includes('Dr. Test') && user.includes('approver'), `header shows the user and roles: ${user}`);
  await until('live connection', async () => (await dash.textContent('#conn')) === 'Live');
  await dash.waitForSelector('#cm-champion svg');
  // The drift alert published by the Go side: banner and signal table.
  await dash.waitForSelector('#alert-banner:not([hidden])');
  check((await dash.textContent('#alert-banner')).includes('input_psi'), 'the alert banner names the signal');
  await dash.waitForSelector('#drift table');
  // The two broken uploads, counted by reason.
  await dash.waitForSelector('#chart-rejected svg');
  check((await dash.textContent('#chart-rejected')).includes('2'), 'rejected inputs counted');
  await dash.waitForSelector('#chart-intervals svg');
  log(`dashboard: predictions ${m.predictions}, feedback ${m.feedback} as in GET /v1/metrics`);
  await dash.screenshot({ path: path.join(OUT, '1-dashboard-before.png'), fullPage: true });

  // 2. More feedback while the page is open: the numbers follow, no reload.
  await dash.evaluate(() => { window.__notReloaded = true; });
  const before = m.feedback;
  for (const f of MORE) {
    const r = await fetch(`${BASE}/v1/feedback`, {
      method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...f, source: 'browser-test', confidence: 0.9 }),
    });
    check(r.status === 202 || r.status === 200, `POST /v1/feedback: ${r.status} ${await r.text()}`);
  }
  await until('dashboard feedback updated live', async () => {
    m = await metrics();
    const p = await pageNumbers(dash);
    const shown = Object.keys(m.by).reduce((a, arm) => a + num(p[`feedback-${arm}`]), 0);
    return m.feedback === before + MORE.length && shown === m.feedback;
  });
  check(await dash.evaluate(() => window.__notReloaded === true), 'the dashboard did not reload');
  log(`dashboard: feedback ${before} -> ${m.feedback} without reload`);
  await dash.screenshot({ path: path.join(OUT, '2-dashboard-after.png'), fullPage: true });

  // 3. The review page lists predictions without feedback; a double-clicked
  //    PNEUMONIA reading counts once and the case leaves the queue.
  const rev = await ctx.newPage();
  rev.on('pageerror', e => errors.push('review: ' + e.message));
  rev.on('console', msg => { if (msg.type() === 'error') errors.push('review console: ' + msg.text()); });
  await rev.goto(`${BASE}/review?experiment=${EXP}#token=${encodeURIComponent(TOKEN)}`);
  await rev.waitForSelector('#queue li button');
  const listed = await rev.$$eval('#queue li button', bs => bs.map(b => b.dataset.requestId));
  const answered = new Set(MORE.map(f => f.request_id));
  check(listed.every(id => !answered.has(id)), 'the queue lists no request that has feedback');
  const queue = await apiGet(`/v1/review/queue?experiment=${EXP}&limit=50`);
  check(listed.length === Math.min(50, queue.items.length), `the page lists the queue (${listed.length} vs ${queue.items.length})`);
  log(`review: ${listed.length} cases listed, ${queue.pending} pending`);
  // Worklist order: oldest first, as the API lists it; then back to newest.
  const oldest = (await apiGet(`/v1/review/queue?experiment=${EXP}&limit=50&order=oldest`)).items.map(i => i.request_id);
  check(JSON.stringify(oldest) === JSON.stringify([...queue.items.map(i => i.request_id)].reverse()), 'order=oldest is the newest-first queue reversed');
  await rev.selectOption('#filter-order', 'oldest');
  await until('the page lists oldest first', async () =>
    JSON.stringify(await rev.$$eval('#queue li button', bs => bs.map(b => b.dataset.requestId))) === JSON.stringify(oldest));
  await rev.selectOption('#filter-order', 'newest');
  await until('the page lists newest first again', async () =>
    JSON.stringify(await rev.$$eval('#queue li button', bs => bs.map(b => b.dataset.requestId))) === JSON.stringify(listed));
  log('review: oldest-first worklist order matches the API');
  await rev.click('#queue li:first-child button');
  await rev.waitForFunction(() => { const i = document.querySelector('#xray img'); return i && i.complete && i.naturalWidth > 0; });
  await rev.screenshot({ path: path.join(OUT, '3-review.png'), fullPage: true });
  const chosen = listed[0];
  const fbBefore = (await metrics()).feedback;
  await rev.keyboard.press('p');
  check(await rev.isChecked('#gt-pneumonia'), 'P selects PNEUMONIA');
  await rev.dblclick('#submit');
  await rev.waitForSelector('#notice:not([hidden])');
  const notice = await rev.textContent('#notice');
  check(notice.includes(chosen), `confirmation names the request: ${notice}`);
  await until('feedback count +1', async () => (await metrics()).feedback === fbBefore + 1);
  await sleep(1500);
  const fbAfter = (await metrics()).feedback;
  check(fbAfter === fbBefore + 1, `feedback rose by exactly one (${fbBefore} -> ${fbAfter})`);
  const listedAfter = await rev.$$eval('#queue li button', bs => bs.map(b => b.dataset.requestId));
  check(!listedAfter.includes(chosen), 'the case left the list');
  await until('the case left GET /v1/review/queue', async () => !(await apiGet(`/v1/review/queue?experiment=${EXP}&limit=200`)).items.some(i => i.request_id === chosen));
  const st = await apiGet(`/v1/requests/${chosen}`);
  check(JSON.stringify(st).includes('review-ui'), 'the feedback was recorded with source review-ui');
  log(`review: ${chosen} answered PNEUMONIA by double click; feedback ${fbBefore} -> ${fbAfter}`);
  await rev.screenshot({ path: path.join(OUT, '4-review-after-submit.png'), fullPage: true });

  // 4. Approval UI: with a pending recommendation (injected into the real
  //    GET /v1/rollout answer; reaching one for real takes hundreds of
  //    labelled cases) an approver sees Approve / Reject; Approve posts the
  //    reason and the whoami id (answered here, not executed).
  let posted = null;
  await dash.route(`**/v1/rollout/${EXP}`, async route => {
    const resp = await route.fetch();
    const body = await resp.json();
    body.state = body.state || {};
    body.state.pending = { decision_id: 'browser-test', action: 'PROMOTE', epoch: body.experiment?.epoch ?? 0, stage_from: 0, stage_to: 1,
      split_from: { champion: 50, challenger: 50 }, split_to: { champion: 30, challenger: 70 },
      reason: 'challenger accuracy higher (synthetic, browser test)', recommended_at: new Date().toISOString() };
    await route.fulfill({ response: resp, json: body });
  });
  await dash.route(`**/v1/rollout/${EXP}/approve`, async route => {
    posted = route.request().postDataJSON();
    await route.fulfill({ status: 200, json: { decision_id: 'browser-test:approved', action: 'PROMOTE', outcome: 'approved' } });
  });
  await dash.reload();
  await dash.waitForSelector('#approval button.primary');
  await dash.fill('#approval-reason', 'looks good');
  await dash.screenshot({ path: path.join(OUT, '5-dashboard-approval.png'), fullPage: false });
  await dash.click('#approval button.primary');
  await until('approve posted', async () => posted);
  check(posted.reason === 'looks good' && posted.by === 'ada', `approve body ${JSON.stringify(posted)}`);
  log(`dashboard: approval posted ${JSON.stringify(posted)}`);

  check(errors.length === 0, 'no page errors: ' + errors.join('; '));
  log('ok');
} finally {
  // A route handler may still be fetching (the dashboard polls the rollout
  // state): drop the routes before closing so that it cannot fail the run.
  for (const ctx of browser.contexts()) {
    for (const page of ctx.pages()) await page.unrouteAll({ behavior: 'ignoreErrors' }).catch(() => {});
  }
  await browser.close();
}
