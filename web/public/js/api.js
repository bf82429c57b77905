// api: the Calixio HTTP API (same origin). Keeps the access token in memory
// only; the refresh token lives in the HttpOnly cookie the API sets.
const TIMEOUT_MS = 15000;
let access = null; // {token, user_id, name}
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || body?.error || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error || (status === 0 ? 'network' : 'unknown');
    this.reason = body?.reason;
    this.fields = body?.fields;
    this.retryAfter = body?.retry_after;
  }
  // The route does not exist on this server yet (another part of Calixio).
  get missing() { return this.code === 'not_found' || this.code === 'method_not_allowed'; }
}

export function session() { return access; }
export function onSession(fn) { listeners.add(fn); return () => listeners.delete(fn); }
// Changes what the page shows of the signed-in user (name after a profile edit).
export function updateSession(fields) { if (access) setSession({ ...access, ...fields }); }
function setSession(s) {
  access = s;
  for (const fn of listeners) fn(s);
}

async function raw(method, path, { body, token, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  signal?.addEventListener('abort', () => ctl.abort(), { once: true });
  let r;
  try {
    r = await fetch(path, {
      method, headers, credentials: 'same-origin', signal: ctl.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, { error: ctl.signal.aborted && !signal?.aborted ? 'client_timeout' : 'network' });
  } finally {
    clearTimeout(timer);
  }
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!r.ok) throw new ApiError(r.status, json);
  return { status: r.status, json };
}

// Restores the session from the refresh cookie (every page load). False
// when there is none.
export async function restore() {
  // one refresh at a time across this browser's tabs: a rotated refresh
  // token presented twice counts as reuse and revokes the session
  const locked = (fn) => (navigator.locks ? navigator.locks.request('cx-refresh', fn) : fn());
  try {
    const { json } = await locked(() => raw('POST', '/auth/refresh'));
    setSession({ token: json.access_token, user_id: json.user_id, name: access?.name });
    try {
      const me = await raw('GET', '/auth/me', { token: json.access_token });
      setSession({ ...access, name: me.json.name, email: me.json.email });
    } catch { /* the name is cosmetic */ }
    return true;
  } catch (e) {
    if (e.status === 400 || e.status === 401) { setSession(null); return false; }
    throw e;
  }
}

export async function login(email, password) {
  const { json } = await raw('POST', '/auth/login', { body: { email, password } });
  setSession({ token: json.access_token, user_id: json.user_id, name: json.name, email });
  return json;
}

export async function register(name, email, password) {
  await raw('POST', '/auth/register', { body: { name, email, password } });
  return login(email, password);
}

export async function logout() {
  try { await raw('POST', '/auth/logout'); } catch { /* signed out locally anyway */ }
  setSession(null);
}

// A call with the account's access token; one refresh and retry when it
// expired. opts.token overrides (room / waiting tokens).
export async function call(method, path, body, opts = {}) {
  const token = opts.token ?? access?.token;
  try {
    return (await raw(method, path, { body, token, signal: opts.signal })).json;
  } catch (e) {
    if (e.status === 401 && !opts.token && access && e.code === 'invalid_token' && (await restore())) {
      return (await raw(method, path, { body, token: access.token, signal: opts.signal })).json;
    }
    throw e;
  }
}
