// API access for the pages: the bearer token, fetch with problem+json errors,
// the sign-in form, the signed-in user in the header.
const TOKEN_KEY = 'hap.token';

// readToken takes a token from the URL fragment (#token=...), keeps it in
// sessionStorage and removes it from the address bar; else the stored one.
function readToken() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    const t = decodeURIComponent(m[1]);
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    history.replaceState(null, '', location.pathname + location.search);
    return t;
  }
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

let token = readToken();
const tokenWaiters = [];

export function getToken() { return token; }

export function setToken(t) {
  token = t.trim();
  if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
  while (tokenWaiters.length) tokenWaiters.shift()();
  document.dispatchEvent(new CustomEvent('hap:token'));
}

// waitForToken resolves when the user signs in again.
export function waitForToken() { return new Promise(resolve => tokenWaiters.push(resolve)); }

export function authHeaders(headers = {}) {
  const h = new Headers(headers);
  if (token) h.set('Authorization', 'Bearer ' + token);
  return h;
}

// ProblemError is an API error; problem is the RFC 9457 body when there was one.
export class ProblemError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || null;
  }
}

async function problemOf(resp) {
  const ct = resp.headers.get('Content-Type') || '';
  if (ct.includes('json')) {
    try { return await resp.json(); } catch { /* not JSON after all */ }
  }
  return { title: resp.statusText, status: resp.status };
}

// api fetches an API path with the bearer token. options.json sends a JSON
// body. A 401 opens the sign-in form; any error status throws ProblemError.
export async function api(path, options = {}) {
  const opts = { ...options, headers: authHeaders(options.headers) };
  if (options.json !== undefined) {
    opts.headers.set('Content-Type', 'application/json');
    opts.body = JSON.stringify(options.json);
    delete opts.json;
  }
  if (!opts.headers.has('Accept')) opts.headers.set('Accept', 'application/json, application/problem+json');
  const resp = await fetch(path, opts);
  if (resp.ok) return resp;
  const problem = await problemOf(resp);
  if (resp.status === 401) showSignIn(problem.detail || 'Your token was not accepted.');
  throw new ProblemError(resp.status, problem);
}

export async function apiJSON(path, options) {
  const resp = await api(path, options);
  if (resp.status === 204) return null;
  return resp.json();
}

// showSignIn opens the sign-in dialog (a token pasted by the user).
export function showSignIn(message) {
  let dlg = document.getElementById('signin');
  if (!dlg) {
    dlg = document.createElement('dialog');
    dlg.id = 'signin';
    dlg.setAttribute('aria-labelledby', 'signin-title');
    dlg.innerHTML = `<form method="dialog" class="stack">
      <h2 id="signin-title">Sign in</h2>
      <p class="error" id="signin-message" role="alert"></p>
      <p class="muted small">Paste the access token you were given. It is kept for this browser tab only.</p>
      <label for="signin-token">Access token</label>
      <input id="signin-token" type="password" autocomplete="off" required class="full">
      <div class="row"><button class="primary" value="ok">Sign in</button></div>
    </form>`;
    document.body.append(dlg);
    dlg.querySelector('form').addEventListener('submit', ev => {
      const v = dlg.querySelector('#signin-token').value;
      if (!v.trim()) { ev.preventDefault(); return; }
      setToken(v);
    });
  }
  dlg.querySelector('#signin-message').textContent = message || '';
  if (!dlg.open) dlg.showModal();
  dlg.querySelector('#signin-token').focus();
}

const ANONYMOUS = { id: 'anonymous', name: 'anonymous', roles: [], auth: 'unknown' };

// loadUser asks who the token belongs to and shows it in the header
// (#user). Without GET /v1/whoami the user is anonymous with no roles.
export async function loadUser() {
  let user = ANONYMOUS;
  try {
    user = { ...ANONYMOUS, ...(await apiJSON('/v1/whoami')) };
  } catch (err) {
    if (err.status === 401) {
      await waitForToken();
      return loadUser();
    }
  }
  renderUser(user);
  return user;
}

function renderUser(user) {
  const el = document.getElementById('user');
  if (!el) return;
  el.replaceChildren();
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = user.name || user.id;
  name.dataset.userId = user.id;
  const roles = document.createElement('span');
  roles.className = 'roles';
  roles.textContent = user.roles?.length ? ' · ' + user.roles.join(', ') : '';
  el.append(name, roles);
  if (user.auth === 'token' || token) {
    const out = document.createElement('button');
    out.type = 'button';
    out.textContent = 'Sign out';
    out.className = 'signout';
    out.addEventListener('click', () => { setToken(''); showSignIn('Signed out.'); });
    el.append(out);
  }
}

export function hasRole(user, ...roles) { return roles.some(r => user?.roles?.includes(r)); }

// experiment is the ?experiment= of the page (the server redirects to the
// default one when absent).
export function experiment() { return new URLSearchParams(location.search).get('experiment') || 'pneumonia'; }

// Links between the pages keep the experiment.
export function linkPages() {
  for (const a of document.querySelectorAll('a[data-page]')) {
    a.href = `/${a.dataset.page}?experiment=${encodeURIComponent(experiment())}`;
  }
}
