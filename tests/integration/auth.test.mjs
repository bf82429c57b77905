// auth.test.mjs: the auth daemon (issue 3) against real NATS, Postgres and
// Redis, on two levels: NATS requests to calixio.auth.* (always) and HTTP
// through the gateway (when cx-gateway is built). Run:
//   cd tests && CX_BUILD_DIR=/work/main/build-auth node --test integration/auth.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, signJwt, buildDir, DEFAULT_ENV, sleep } from '../harness/stack.mjs';

const HAVE_GATEWAY = existsSync(join(buildDir, 'cx-gateway'));
const HAVE_ROOMS = existsSync(join(buildDir, 'cx-rooms'));
const NO_GATEWAY = HAVE_GATEWAY ? false : `cx-gateway is not built in ${buildDir}`;
const NO_ROOMS = HAVE_ROOMS ? false : `cx-rooms is not built in ${buildDir}`;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const SECRET = DEFAULT_ENV.JWT_SECRET;

let seq = 0;
const uniq = (tag = 'u') => `${tag}${Date.now().toString(36)}${(seq++).toString(36)}`;
const newEmail = (tag) => `${uniq(tag)}@example.com`;
const sha256hex = (s) => createHash('sha256').update(s).digest('hex');
const decodeJwt = (t) => {
  const [h, p] = t.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) };
};
const bearer = (t) => ({ Authorization: `Bearer ${t}` });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The NATS error body lists fields as [{field, rule}]; make it a map.
const fieldMap = (body) => Object.fromEntries((body.fields ?? []).map((f) => [f.field, f.rule]));

// Moves a token's rotation back past REFRESH_REUSE_GRACE (30 s by default),
// so presenting it again is reuse, not two tabs racing.
async function ageRotation(s, token, seconds = 60) {
  await s.psql(`UPDATE refresh_tokens SET rotated_at = rotated_at - interval '${seconds} seconds' WHERE token_hash = decode('${sha256hex(token)}', 'hex')`);
}

async function count(s, sql) {
  return Number((await s.psql(sql))[0][0]);
}

async function register(s, { name = 'Test User', email = newEmail('reg'), password = 'correct horse' } = {}) {
  const r = await s.natsRequest('auth.register', { name, email, password });
  assert.equal(r.status, 200, r.text);
  return { id: r.json.user_id, name, email, password };
}

async function login(s, email, password, hdrs = {}) {
  const r = await s.natsRequest('auth.login', { email, password }, hdrs);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

// Waits for the newest auth copy to answer $SRV.PING (s.waitReady would
// trip over the copy stopped on purpose before it).
async function waitAuth(s, timeoutMs = 15000) {
  const t0 = Date.now();
  const d = s.daemon('auth', s.daemons.auth.length - 1);
  while (Date.now() - t0 < timeoutMs) {
    if (d.exit) throw new Error(`cx-auth exited ${JSON.stringify(d.exit)}:\n${d.stderr}`);
    if ((await s.pingCount('auth', 150)) >= 1) return;
  }
  throw new Error('cx-auth not ready');
}

// Runs a binary of the build with env and collects its exit code and stderr.
function runBinary(name, env, timeoutMs = 10000) {
  return new Promise((resolve) => {
    const p = spawn(join(buildDir, name), [], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stderr });
    });
  });
}

// ---------------------------------------------------------------------------
describe('auth with default settings', () => {
  let s;
  before(async () => {
    const daemons = ['auth'];
    if (HAVE_ROOMS) daemons.push('rooms');
    if (HAVE_GATEWAY) daemons.push('gateway');
    s = await startStack({ daemons });
  });
  after(async () => {
    if (s) await s.stop();
  });

  // ---- register ---------------------------------------------------------
  test('register stores a user with a normalised email and an Argon2id hash', async () => {
    const email = newEmail('Ok');
    const r = await s.natsRequest('auth.register', { name: 'Ann Example', email: `  ${email.toUpperCase()}\t`, password: 'correct horse' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json), ['user_id']);
    assert.match(r.json.user_id, UUID_RE);
    const rows = await s.psql(`SELECT name, email, password_hash FROM users WHERE id = '${r.json.user_id}'`);
    assert.equal(rows.length, 1);
    assert.equal(rows[0][0], 'Ann Example');
    assert.equal(rows[0][1], email.toLowerCase());
    assert.match(rows[0][2], /^\$argon2id\$v=19\$m=8192,t=2,p=1\$/);
    assert.ok(!rows[0][2].includes('correct horse'));
  });

  test('register accepts the boundaries: 64-character multi-byte name, 8 and 1024-byte passwords', async () => {
    const name64 = 'é'.repeat(63) + '😀'; // 64 code points, 130 bytes
    await register(s, { name: name64, password: 'x'.repeat(8) });
    await register(s, { name: 'n', password: 'y'.repeat(1024) });
    const local = 'a'.repeat(64);
    const domain = `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(58)}.io`; // 254 bytes in all
    const email254 = `${local}@${domain}`;
    assert.equal(email254.length, 254);
    await register(s, { email: email254 });
    const [[n]] = await s.psql(`SELECT char_length(name) FROM users WHERE name LIKE 'é%'`);
    assert.equal(n, '64');
  });

  const badRegistrations = [
    { why: 'empty body', body: {}, fields: { name: 'required', email: 'required', password: 'required' }, reason: 'name_required' },
    { why: 'whitespace-only name', body: { name: ' \t ', email: 'a@example.com', password: 'password1' }, fields: { name: 'required' }, reason: 'name_required' },
    { why: 'empty name', body: { name: '', email: 'a@example.com', password: 'password1' }, fields: { name: 'required' }, reason: 'name_required' },
    { why: '65-character name', body: { name: 'é'.repeat(65), email: 'a@example.com', password: 'password1' }, fields: { name: 'max' }, reason: 'name_max' },
    { why: 'whitespace-only email', body: { name: 'A', email: '   ', password: 'password1' }, fields: { email: 'required' }, reason: 'email_required' },
    { why: 'email without @', body: { name: 'A', email: 'example.com', password: 'password1' }, fields: { email: 'email' }, reason: 'email_email' },
    { why: 'email without dot in domain', body: { name: 'A', email: 'a@localhost', password: 'password1' }, fields: { email: 'email' }, reason: 'email_email' },
    { why: 'email with one-letter tld', body: { name: 'A', email: 'a@example.c', password: 'password1' }, fields: { email: 'email' }, reason: 'email_email' },
    { why: 'email with two @', body: { name: 'A', email: 'a@b@example.com', password: 'password1' }, fields: { email: 'email' }, reason: 'email_email' },
    { why: 'email with inner space', body: { name: 'A', email: 'a b@example.com', password: 'password1' }, fields: { email: 'email' }, reason: 'email_email' },
    { why: 'email with empty local part', body: { name: 'A', email: '@example.com', password: 'password1' }, fields: { email: 'email' }, reason: 'email_email' },
    { why: 'email with empty domain label', body: { name: 'A', email: 'a@example..com', password: 'password1' }, fields: { email: 'email' }, reason: 'email_email' },
    { why: '255-byte email', body: { name: 'A', email: `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(59)}.io`, password: 'password1' }, fields: { email: 'max' }, reason: 'email_max' },
    { why: '7-byte password', body: { name: 'A', email: 'a@example.com', password: '1234567' }, fields: { password: 'min' }, reason: 'password_min' },
    { why: '1025-byte password', body: { name: 'A', email: 'a@example.com', password: 'p'.repeat(1025) }, fields: { password: 'max' }, reason: 'password_max' },
    { why: 'empty password', body: { name: 'A', email: 'a@example.com', password: '' }, fields: { password: 'required' }, reason: 'password_required' },
    { why: 'every field bad', body: { name: 'x'.repeat(65), email: 'nope', password: 'short' }, fields: { name: 'max', email: 'email', password: 'min' }, reason: 'name_max' },
  ];

  for (const c of badRegistrations) {
    test(`register refuses ${c.why} (400 validation_failed, nothing stored)`, async () => {
      const before = await count(s, 'SELECT count(*) FROM users');
      const r = await s.natsRequest('auth.register', c.body);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.code, 'validation_failed');
      assert.equal(r.json.reason, c.reason);
      assert.deepEqual(fieldMap(r.json), c.fields);
      assert.equal(await count(s, 'SELECT count(*) FROM users'), before);
    });
  }

  test('register refuses bodies that are not the message (400 invalid_json, nothing stored)', async () => {
    const before = await count(s, 'SELECT count(*) FROM users');
    for (const body of [{ name: 5, email: 'a@example.com', password: 'password1' }, { name: 'A', email: 'a@example.com', password: 'password1', admin: true }, { name: ['A'], email: 'a@example.com', password: 'password1' }]) {
      const r = await s.natsRequest('auth.register', body);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.code, 'invalid_json');
    }
    assert.equal(await count(s, 'SELECT count(*) FROM users'), before);
  });

  test('register: a duplicate email is 409 email_exists, whatever its case and whitespace', async () => {
    const email = newEmail('dup');
    await register(s, { email });
    for (const variant of [email, email.toUpperCase(), `  ${email} `, `\n${email.replace('dup', 'DUP')}`]) {
      const r = await s.natsRequest('auth.register', { name: 'Other', email: variant, password: 'another password' });
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json.code, 'email_exists');
    }
    assert.equal(await count(s, `SELECT count(*) FROM users WHERE email = '${email}'`), 1);
  });

  // ---- login --------------------------------------------------------------
  test('login answers every key, creates a session and stores only the token hash', async () => {
    const u = await register(s, { name: 'Lou Login' });
    const ip = '198.51.100.7';
    const r = await s.natsRequest('auth.login', { email: ` ${u.email.toUpperCase()} `, password: u.password }, { 'Calixio-Client-Ip': ip, 'Calixio-User-Agent': 'auth-test/1.0' });
    assert.equal(r.status, 200, r.text);
    const j = r.json;
    assert.deepEqual(Object.keys(j).sort(), ['access_token', 'access_ttl', 'name', 'refresh_token', 'refresh_ttl', 'token_type', 'user_id']);
    assert.equal(j.name, 'Lou Login');
    assert.equal(j.user_id, u.id);
    assert.equal(j.token_type, 'Bearer');
    assert.equal(j.access_ttl, 600);
    assert.equal(j.refresh_ttl, 720 * 3600);
    assert.match(j.refresh_token, /^[A-Za-z0-9_-]{43}$/); // 256 bits, base64url
    const { header, payload } = decodeJwt(j.access_token);
    assert.equal(header.alg, 'HS256');
    assert.equal(payload.sub, u.id);
    assert.equal(payload.username, 'Lou Login');
    assert.equal(payload.iss, 'calixio');
    assert.equal(payload.aud, 'calixio');
    assert.match(payload.jti, /.{16,}/);
    assert.match(payload.sid, UUID_RE);
    assert.equal(payload.exp - payload.iat, 600);
    assert.ok(payload.nbf <= payload.iat);
    assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 30);
    const sess = await s.psql(`SELECT user_id, version, client_ip, user_agent, revoked_at IS NULL, round(extract(epoch FROM expires_at - created_at)) FROM sessions WHERE id = '${payload.sid}'`);
    assert.deepEqual(sess, [[u.id, '1', ip, 'auth-test/1.0', 't', String(720 * 3600)]]);
    const toks = await s.psql(`SELECT encode(token_hash, 'hex'), version, rotated_at IS NULL FROM refresh_tokens WHERE session_id = '${payload.sid}'`);
    assert.deepEqual(toks, [[sha256hex(j.refresh_token), '1', 't']]);
    // the token itself is nowhere in the database
    assert.equal(await count(s, `SELECT count(*) FROM refresh_tokens WHERE token_hash = convert_to('${j.refresh_token}', 'UTF8')`), 0);
  });

  test('login: a wrong password and an unknown email are the same 401 invalid_credentials', async () => {
    const u = await register(s);
    const wrong = await s.natsRequest('auth.login', { email: u.email, password: 'not the password' });
    const unknown = await s.natsRequest('auth.login', { email: newEmail('ghost'), password: 'not the password' });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(wrong.json.code, 'invalid_credentials');
    assert.equal(wrong.text, unknown.text);
    assert.equal(wrong.headers.get('Nats-Service-Error'), unknown.headers.get('Nats-Service-Error'));
  });

  test('login: an unknown email costs a password hash too (dummy verification)', async (t) => {
    // Not a speed assertion: both paths must do an Argon2id verification,
    // so the unknown-email path cannot be an order of magnitude cheaper.
    const u = await register(s);
    const tw = [];
    const tu = [];
    for (let i = 0; i < 4; i++) {
      // distinct emails so that no counter reaches its limit
      const email = i === 0 ? u.email : (await register(s)).email;
      let t0 = performance.now();
      const a = await s.natsRequest('auth.login', { email, password: 'wrong password' });
      tw.push(performance.now() - t0);
      t0 = performance.now();
      const b = await s.natsRequest('auth.login', { email: newEmail('nobody'), password: 'wrong password' });
      tu.push(performance.now() - t0);
      assert.equal(a.status, 401);
      assert.equal(b.status, 401);
    }
    const mw = median(tw);
    const mu = median(tu);
    t.diagnostic(`median wrong-password ${mw.toFixed(1)} ms, unknown-email ${mu.toFixed(1)} ms`);
    assert.ok(mu > mw * 0.4, `unknown email ${mu} ms vs wrong password ${mw} ms`);
  });

  test('login: missing or oversized fields are 400 validation_failed', async () => {
    const cases = [
      [{}, { email: 'required', password: 'required' }, 'email_required'],
      [{ email: 'a@example.com' }, { password: 'required' }, 'password_required'],
      [{ email: '  ', password: 'whatever1' }, { email: 'required' }, 'email_required'],
      [{ email: 'a@example.com', password: 'p'.repeat(1025) }, { password: 'max' }, 'password_max'],
      [{ email: `${'a'.repeat(250)}@x.io`, password: 'whatever1' }, { email: 'max' }, 'email_max'],
    ];
    for (const [body, fields, reason] of cases) {
      const r = await s.natsRequest('auth.login', body);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.code, 'validation_failed');
      assert.equal(r.json.reason, reason);
      assert.deepEqual(fieldMap(r.json), fields);
    }
  });

  // ---- throttling ----------------------------------------------------------
  test('login: 5 failures per email, then 429 too_many_attempts with retry_after, even with the right password', async () => {
    const u = await register(s);
    const ip = { 'Calixio-Client-Ip': '203.0.113.10' };
    for (let i = 0; i < 5; i++) {
      const r = await s.natsRequest('auth.login', { email: u.email, password: `wrong ${i}` }, ip);
      assert.equal(r.status, 401, `attempt ${i + 1}: ${r.text}`);
    }
    for (const password of ['wrong again', u.password]) {
      const r = await s.natsRequest('auth.login', { email: u.email.toUpperCase(), password }, ip);
      assert.equal(r.status, 429, r.text);
      assert.equal(r.json.code, 'too_many_attempts');
      assert.ok(r.json.retry_after > 0 && r.json.retry_after <= 900, r.text);
    }
    // the counter is a Redis key with the window as expiry
    const key = `cx:auth:fail:email:${sha256hex(u.email)}`;
    assert.equal(await s.redis('GET', key), '5');
    const ttl = Number(await s.redis('TTL', key));
    assert.ok(ttl > 800 && ttl <= 900, `ttl ${ttl}`);
    // other accounts from the same ip are not blocked by this email's counter
    const other = await register(s);
    await login(s, other.email, other.password, ip);
    // the window passing (simulated by deleting the key) lifts the block
    await s.redis('DEL', key);
    await login(s, u.email, u.password, ip);
  });

  test('login: a successful login clears the email counter', async () => {
    const u = await register(s);
    for (let i = 0; i < 4; i++) assert.equal((await s.natsRequest('auth.login', { email: u.email, password: 'wrong pw!' })).status, 401);
    await login(s, u.email, u.password);
    assert.equal(await s.redis('EXISTS', `cx:auth:fail:email:${sha256hex(u.email)}`), '0');
    for (let i = 0; i < 4; i++) assert.equal((await s.natsRequest('auth.login', { email: u.email, password: 'wrong pw!' })).status, 401);
    await login(s, u.email, u.password);
  });

  test('login: 50 failures per client ip, then 429 for every email from that ip only', async () => {
    const ip = { 'Calixio-Client-Ip': '192.0.2.50' };
    const u = await register(s);
    for (let i = 0; i < 50; i++) {
      // distinct unknown emails: only the ip counter grows past 1
      const r = await s.natsRequest('auth.login', { email: newEmail('spray'), password: 'guessing!' }, ip);
      assert.equal(r.status, 401, `attempt ${i + 1}: ${r.text}`);
    }
    const r = await s.natsRequest('auth.login', { email: u.email, password: u.password }, ip);
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.code, 'too_many_attempts');
    assert.ok(r.json.retry_after > 0 && r.json.retry_after <= 900);
    await login(s, u.email, u.password, { 'Calixio-Client-Ip': '192.0.2.51' });
  });

  // ---- refresh -------------------------------------------------------------
  test('refresh rotates the token, bumps the version and answers both access token spellings', async () => {
    const u = await register(s, { name: 'Rita Refresh' });
    const l = await login(s, u.email, u.password);
    const sid = decodeJwt(l.access_token).payload.sid;
    let token = l.refresh_token;
    for (const version of [2, 3]) {
      const r = await s.natsRequest('auth.refresh', { refresh_token: token });
      assert.equal(r.status, 200, r.text);
      const j = r.json;
      assert.deepEqual(Object.keys(j).sort(), ['accessToken', 'access_token', 'access_ttl', 'refresh_token', 'refresh_ttl', 'user_id', 'version']);
      assert.equal(j.user_id, u.id);
      assert.equal(j.version, version);
      assert.equal(j.accessToken, j.access_token);
      assert.equal(j.access_ttl, 600);
      assert.equal(j.refresh_ttl, 720 * 3600);
      assert.notEqual(j.refresh_token, token);
      assert.match(j.refresh_token, /^[A-Za-z0-9_-]{43}$/);
      const p = decodeJwt(j.access_token).payload;
      assert.equal(p.sid, sid);
      assert.equal(p.username, 'Rita Refresh');
      const me = await s.natsRequest('auth.me', {}, bearer(j.access_token));
      assert.equal(me.status, 200, me.text);
      token = j.refresh_token;
    }
    assert.deepEqual(await s.psql(`SELECT version FROM sessions WHERE id = '${sid}'`), [['3']]);
    assert.deepEqual(await s.psql(`SELECT version, rotated_at IS NOT NULL FROM refresh_tokens WHERE session_id = '${sid}' ORDER BY version`), [['1', 't'], ['2', 't'], ['3', 'f']]);
  });

  test('refresh: no token is 400 refresh_token_required; a bad or unknown one is 401 invalid_refresh', async () => {
    for (const body of [{}, { refresh_token: '' }]) {
      const r = await s.natsRequest('auth.refresh', body);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.code, 'refresh_token_required');
    }
    for (const t of ['x', 'A'.repeat(42) + '!', 'B'.repeat(43), 'C'.repeat(44), "'; DROP TABLE sessions; --"]) {
      const r = await s.natsRequest('auth.refresh', { refresh_token: t });
      assert.equal(r.status, 401, r.text);
      assert.equal(r.json.code, 'invalid_refresh');
    }
  });

  test('refresh: reusing a rotated token revokes the whole session (old and new token dead, access tokens revoked)', async () => {
    const u = await register(s);
    const l = await login(s, u.email, u.password);
    const sid = decodeJwt(l.access_token).payload.sid;
    const r1 = await s.natsRequest('auth.refresh', { refresh_token: l.refresh_token });
    assert.equal(r1.status, 200);
    // the thief (or the victim) presents the old token again, after the grace
    await ageRotation(s, l.refresh_token);
    const reuse = await s.natsRequest('auth.refresh', { refresh_token: l.refresh_token });
    assert.equal(reuse.status, 401);
    assert.equal(reuse.json.code, 'invalid_refresh');
    const next = await s.natsRequest('auth.refresh', { refresh_token: r1.json.refresh_token });
    assert.equal(next.status, 401);
    assert.equal(next.json.code, 'invalid_refresh');
    assert.deepEqual(await s.psql(`SELECT revoked_at IS NOT NULL, revoke_reason FROM sessions WHERE id = '${sid}'`), [['t', 'reuse']]);
    for (const at of [l.access_token, r1.json.access_token]) {
      const me = await s.natsRequest('auth.me', {}, bearer(at));
      assert.equal(me.status, 401);
      assert.equal(me.json.code, 'token_revoked');
    }
    const ttl = Number(await s.redis('TTL', `cx:revoked:sid:${sid}`));
    assert.ok(ttl > 600 && ttl <= 600 + 300, `deny-list ttl ${ttl}`); // access ttl + the largest leeway
    // other sessions of the same user are untouched
    const l2 = await login(s, u.email, u.password);
    assert.equal((await s.natsRequest('auth.refresh', { refresh_token: l2.refresh_token })).status, 200);
  });

  test('refresh: concurrent refreshes with one token (tabs) all get a token of the same session within the grace', async () => {
    const u = await register(s);
    for (let round = 0; round < 3; round++) {
      const l = await login(s, u.email, u.password);
      const sid = decodeJwt(l.access_token).payload.sid;
      const rs = await Promise.all([0, 1, 2].map(() => s.natsRequest('auth.refresh', { refresh_token: l.refresh_token })));
      for (const r of rs) {
        assert.equal(r.status, 200, r.text);
        assert.equal(decodeJwt(r.json.access_token).payload.sid, sid);
      }
      // one successor each, serialised by the row lock: versions 2, 3, 4
      assert.deepEqual(rs.map((r) => r.json.version).sort(), [2, 3, 4]);
      assert.equal(new Set(rs.map((r) => r.json.refresh_token)).size, 3);
      assert.equal(await count(s, `SELECT count(*) FROM refresh_tokens WHERE session_id = '${sid}'`), 4);
      assert.deepEqual(await s.psql(`SELECT revoked_at IS NULL FROM sessions WHERE id = '${sid}'`), [['t']]);
      // every tab's token works on
      for (const r of rs) {
        assert.equal((await s.natsRequest('auth.me', {}, bearer(r.json.access_token))).status, 200);
        assert.equal((await s.natsRequest('auth.refresh', { refresh_token: r.json.refresh_token })).status, 200);
      }
    }
  });

  // ---- logout --------------------------------------------------------------
  test('logout revokes the session: refresh is invalid and its access tokens are token_revoked', async () => {
    const u = await register(s);
    const l = await login(s, u.email, u.password);
    const sid = decodeJwt(l.access_token).payload.sid;
    const r = await s.natsRequest('auth.logout', { refresh_token: l.refresh_token });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {});
    assert.deepEqual(await s.psql(`SELECT revoked_at IS NOT NULL, revoke_reason FROM sessions WHERE id = '${sid}'`), [['t', 'logout']]);
    const again = await s.natsRequest('auth.refresh', { refresh_token: l.refresh_token });
    assert.equal(again.status, 401);
    assert.equal(again.json.code, 'invalid_refresh');
    const twice = await s.natsRequest('auth.logout', { refresh_token: l.refresh_token });
    assert.equal(twice.status, 401);
    assert.equal(twice.json.code, 'invalid_refresh');
    const me = await s.natsRequest('auth.me', {}, bearer(l.access_token));
    assert.equal(me.status, 401);
    assert.equal(me.json.code, 'token_revoked');
  });

  test('logout: no token is 400 refresh_token_required; an unknown one 401 invalid_refresh', async () => {
    const r = await s.natsRequest('auth.logout', {});
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'refresh_token_required');
    const r2 = await s.natsRequest('auth.logout', { refresh_token: 'Z'.repeat(43) });
    assert.equal(r2.status, 401);
    assert.equal(r2.json.code, 'invalid_refresh');
  });

  test('logout: the revoked access token is refused by another service (rooms.list) with token_revoked', { skip: NO_ROOMS }, async () => {
    const u = await register(s);
    const l = await login(s, u.email, u.password);
    const before = await s.natsRequest('rooms.list', {}, bearer(l.access_token));
    assert.equal(before.status, 200, before.text);
    assert.equal((await s.natsRequest('auth.logout', { refresh_token: l.refresh_token })).status, 200);
    // rooms cached "not revoked" above; the revocation event reaches it
    // asynchronously (a request racing the event may still pass): it must
    // refuse the token within a second, and for good
    let after;
    for (const t0 = Date.now(); Date.now() - t0 < 1000;) {
      after = await s.natsRequest('rooms.list', {}, bearer(l.access_token));
      if (after.status === 401) break;
      await sleep(20);
    }
    assert.equal(after.status, 401, after.text);
    assert.equal(after.json.code, 'token_revoked');
    await sleep(200);
    assert.equal((await s.natsRequest('rooms.list', {}, bearer(l.access_token))).status, 401);
  });

  // ---- me ------------------------------------------------------------------
  test('me answers the caller; no, malformed or orphaned tokens are 401', async () => {
    const u = await register(s, { name: 'Mo Me' });
    const l = await login(s, u.email, u.password);
    const r = await s.natsRequest('auth.me', {}, bearer(l.access_token));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json), ['id', 'name', 'email', 'created_at']);
    assert.equal(r.json.id, u.id);
    assert.equal(r.json.name, 'Mo Me');
    assert.equal(r.json.email, u.email);
    assert.match(r.json.created_at, RFC3339_RE);
    assert.ok(Math.abs(Date.parse(r.json.created_at) - Date.now()) < 60000);

    const none = await s.natsRequest('auth.me', {});
    assert.equal(none.status, 401);
    assert.equal(none.json.code, 'missing_auth');
    const basic = await s.natsRequest('auth.me', {}, { Authorization: 'Basic dXNlcjpwYXNz' });
    assert.equal(basic.status, 401);
    assert.equal(basic.json.code, 'invalid_auth');

    // a valid signature for a user that was deleted
    await s.psql(`DELETE FROM users WHERE id = '${u.id}'`);
    const gone = await s.natsRequest('auth.me', {}, bearer(l.access_token));
    assert.equal(gone.status, 401);
    assert.equal(gone.json.code, 'invalid_token');
    // a token whose subject is not a user id at all
    const now = Math.floor(Date.now() / 1000);
    const odd = signJwt({ alg: 'HS256', typ: 'JWT' }, { iss: 'calixio', aud: 'calixio', sub: "x' OR '1'='1", username: 'x', sid: 'nope', jti: 'j1', iat: now, nbf: now, exp: now + 60 }, SECRET);
    const oddr = await s.natsRequest('auth.me', {}, bearer(odd));
    assert.equal(oddr.status, 401);
    assert.equal(oddr.json.code, 'invalid_token');
  });

  // ---- bad tokens, at auth and at another service ---------------------------
  function badTokens(good) {
    const { header, payload } = decodeJwt(good);
    const [h, p, sig] = good.split('.');
    const now = Math.floor(Date.now() / 1000);
    const tamperedPayload = Buffer.from(JSON.stringify({ ...payload, username: 'Mallory' })).toString('base64url');
    return {
      'tampered payload': `${h}.${tamperedPayload}.${sig}`,
      'tampered signature': `${h}.${p}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`,
      'wrong secret': signJwt(header, payload, 'another-secret-0123456789'),
      'alg none': signJwt({ alg: 'none', typ: 'JWT' }, payload, SECRET, null),
      'alg none with a signature': `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.${sig}`,
      HS512: signJwt({ alg: 'HS512', typ: 'JWT' }, payload, SECRET, 'sha512'),
      HS384: signJwt({ alg: 'HS384', typ: 'JWT' }, payload, SECRET, 'sha384'),
      expired: signJwt(header, { ...payload, iat: now - 3600, nbf: now - 3600, exp: now - 120 }, SECRET),
      'not yet valid': signJwt(header, { ...payload, iat: now, nbf: now + 600, exp: now + 1200 }, SECRET),
      'no exp': signJwt(header, Object.fromEntries(Object.entries(payload).filter(([k]) => k !== 'exp')), SECRET),
      'wrong issuer': signJwt(header, { ...payload, iss: 'someone-else' }, SECRET),
      'wrong audience': signJwt(header, { ...payload, aud: 'someone-else' }, SECRET),
      'garbage': 'not-a-jwt',
      'two segments': `${h}.${p}`,
    };
  }

  test('tampered, wrongly signed, alg none, HS384/HS512, expired tokens are 401 invalid_token at auth.me', async () => {
    const u = await register(s);
    const l = await login(s, u.email, u.password);
    for (const [why, t] of Object.entries(badTokens(l.access_token))) {
      const r = await s.natsRequest('auth.me', {}, bearer(t));
      assert.equal(r.status, 401, `${why}: ${r.text}`);
      assert.equal(r.json.code, 'invalid_token', why);
    }
    assert.equal((await s.natsRequest('auth.me', {}, bearer(l.access_token))).status, 200);
  });

  test('the same bad tokens are 401 invalid_token at another service (rooms.list)', { skip: NO_ROOMS }, async () => {
    const u = await register(s);
    const l = await login(s, u.email, u.password);
    for (const [why, t] of Object.entries(badTokens(l.access_token))) {
      const r = await s.natsRequest('rooms.list', {}, bearer(t));
      assert.equal(r.status, 401, `${why}: ${r.text}`);
      assert.equal(r.json.code, 'invalid_token', why);
    }
    assert.equal((await s.natsRequest('rooms.list', {}, bearer(l.access_token))).status, 200);
  });

  // ---- rehash --------------------------------------------------------------
  test('a hash made with weaker settings is re-hashed on the next successful login', async () => {
    // register under PASSWORD_OPSLIMIT=1, then restart with the default 2
    assert.equal(await s.killDaemon('auth', s.daemons.auth.length - 1), 0);
    s.startDaemon('auth', { PASSWORD_OPSLIMIT: '1' });
    await waitAuth(s);
    const u = await register(s);
    const [[weak]] = await s.psql(`SELECT password_hash FROM users WHERE id = '${u.id}'`);
    assert.match(weak, /\$m=8192,t=1,p=1\$/);
    assert.equal(await s.killDaemon('auth', s.daemons.auth.length - 1), 0);
    s.startDaemon('auth');
    await waitAuth(s);
    // a failed login does not touch the hash
    assert.equal((await s.natsRequest('auth.login', { email: u.email, password: 'wrong one' })).status, 401);
    assert.deepEqual(await s.psql(`SELECT password_hash FROM users WHERE id = '${u.id}'`), [[weak]]);
    await login(s, u.email, u.password);
    const [[strong]] = await s.psql(`SELECT password_hash FROM users WHERE id = '${u.id}'`);
    assert.notEqual(strong, weak);
    assert.match(strong, /\$m=8192,t=2,p=1\$/);
    // the new hash verifies, and a second login leaves it alone
    await login(s, u.email, u.password);
    assert.deepEqual(await s.psql(`SELECT password_hash FROM users WHERE id = '${u.id}'`), [[strong]]);
    assert.match(s.logs('auth', s.daemons.auth.length - 1), /re-hashed the password of user/);
  });

  // ---- stores down ------------------------------------------------------------
  test('login answers 503 unavailable while Redis is down, and works again after', async () => {
    const u = await register(s);
    await s.storeCtl('stop', 'redis');
    try {
      const r = await s.natsRequest('auth.login', { email: u.email, password: u.password });
      assert.equal(r.status, 503, r.text);
      assert.equal(r.json.code, 'unavailable');
    } finally {
      await s.storeCtl('start', 'redis');
    }
    let ok = null;
    for (let i = 0; i < 50 && !ok; i++) {
      const r = await s.natsRequest('auth.login', { email: u.email, password: u.password });
      if (r.status === 200) ok = r;
      else await sleep(100);
    }
    assert.ok(ok, 'login did not recover after Redis came back');
  });

  test('register answers 503 unavailable while Postgres is down, and works again after', async () => {
    await s.storeCtl('stop', 'pg');
    try {
      const r = await s.natsRequest('auth.register', { name: 'Down', email: newEmail('down'), password: 'password1' });
      assert.equal(r.status, 503, r.text);
      assert.equal(r.json.code, 'unavailable');
    } finally {
      await s.storeCtl('start', 'pg');
    }
    let ok = null;
    for (let i = 0; i < 50 && !ok; i++) {
      const r = await s.natsRequest('auth.register', { name: 'Up', email: newEmail('up'), password: 'password1' });
      if (r.status === 200) ok = r;
      else await sleep(100);
    }
    assert.ok(ok, 'register did not recover after Postgres came back');
  });

  test('no password, refresh token or access token is ever logged', async () => {
    const password = `secret-${uniq('pw')}-password`;
    const u = await register(s, { password });
    await s.natsRequest('auth.login', { email: u.email, password: password + 'x' });
    const l = await login(s, u.email, password);
    const f = await s.natsRequest('auth.refresh', { refresh_token: l.refresh_token });
    await ageRotation(s, l.refresh_token);
    await s.natsRequest('auth.refresh', { refresh_token: l.refresh_token }); // reuse: logged as a warning
    await s.natsRequest('auth.logout', { refresh_token: f.json.refresh_token });
    const logs = s.daemons.auth.map((d) => d.stderr).join('\n');
    assert.match(logs, new RegExp(`login user ${u.id}`)); // the logs are there
    for (const secret of [password, l.refresh_token, f.json.refresh_token, l.access_token, f.json.access_token, l.access_token.split('.')[2]]) {
      assert.ok(!logs.includes(secret), 'a secret reached the log');
    }
  });

  // ---- the same through the gateway (HTTP) ---------------------------------------
  describe('through the gateway', { skip: NO_GATEWAY }, () => {
    const cookieOf = (r) => {
      const sc = r.headers.getSetCookie?.() ?? [r.headers.get('set-cookie')];
      return sc.find((c) => c && c.startsWith('refresh_token=')) ?? null;
    };
    const tokenOf = (cookie) => /^refresh_token=([^;]*)/.exec(cookie)[1];

    test('POST /auth/register: 201 {user_id}, 400 with fields/reason, 409 email_exists', async () => {
      const email = newEmail('http');
      const r = await s.http('POST', '/auth/register', { json: { name: 'Hugo Http', email, password: 'password1' } });
      assert.equal(r.status, 201, r.text);
      assert.deepEqual(Object.keys(r.json), ['user_id']);
      assert.match(r.json.user_id, UUID_RE);
      const before = await count(s, 'SELECT count(*) FROM users');
      const bad = await s.http('POST', '/auth/register', { json: { name: '', email: 'nope', password: 'short' } });
      assert.equal(bad.status, 400, bad.text);
      assert.equal(bad.json.error, 'validation_failed');
      assert.equal(bad.json.reason, 'name_required');
      assert.deepEqual(bad.json.fields, { name: 'required', email: 'email', password: 'min' });
      assert.equal(typeof bad.json.message, 'string');
      const junk = await s.http('POST', '/auth/register', { body: '{"name":', headers: { 'Content-Type': 'application/json' } });
      assert.equal(junk.status, 400);
      assert.equal(junk.json.error, 'invalid_json');
      const unknownKey = await s.http('POST', '/auth/register', { json: { name: 'A', email: newEmail('k'), password: 'password1', role: 'admin' } });
      assert.equal(unknownKey.status, 400);
      assert.equal(unknownKey.json.error, 'invalid_json');
      assert.equal(await count(s, 'SELECT count(*) FROM users'), before);
      const dup = await s.http('POST', '/api/v1/auth/register', { json: { name: 'Hugo', email: ` ${email.toUpperCase()}`, password: 'password1' } });
      assert.equal(dup.status, 409, dup.text);
      assert.equal(dup.json.error, 'email_exists');
    });

    test('POST /auth/login: body without refresh_token, HttpOnly cookie with it; 401 invalid_credentials', async () => {
      const u = await register(s, { name: 'Cookie Monster' });
      const r = await s.http('POST', '/auth/login', { json: { email: u.email, password: u.password } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(Object.keys(r.json).sort(), ['access_token', 'access_ttl', 'name', 'refresh_ttl', 'token_type', 'user_id']);
      assert.equal(r.json.token_type, 'Bearer');
      assert.equal(r.json.access_ttl, 600);
      assert.equal(r.json.refresh_ttl, 2592000);
      const c = cookieOf(r);
      assert.ok(c, 'no refresh_token cookie');
      assert.match(c, /^refresh_token=[A-Za-z0-9_-]{43};/);
      assert.match(c, /; HttpOnly/);
      assert.match(c, /; Path=\//);
      assert.match(c, /; Max-Age=2592000/);
      assert.match(c, /; SameSite=Lax/);
      const me = await s.http('GET', '/auth/me', { headers: bearer(r.json.access_token) });
      assert.equal(me.status, 200, me.text);
      assert.deepEqual(Object.keys(me.json), ['id', 'name', 'email', 'created_at']);
      const wrong = await s.http('POST', '/auth/login', { json: { email: u.email, password: 'wrong password' } });
      const unknown = await s.http('POST', '/auth/login', { json: { email: newEmail('nobody'), password: 'wrong password' } });
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, 401);
      assert.equal(wrong.json.error, 'invalid_credentials');
      assert.equal(wrong.text, unknown.text);
    });

    test('POST /auth/login: 429 too_many_attempts with a Retry-After header', async () => {
      const u = await register(s);
      for (let i = 0; i < 5; i++) assert.equal((await s.http('POST', '/auth/login', { json: { email: u.email, password: 'wrong password' } })).status, 401);
      const r = await s.http('POST', '/auth/login', { json: { email: u.email, password: u.password } });
      assert.equal(r.status, 429, r.text);
      assert.equal(r.json.error, 'too_many_attempts');
      const ra = Number(r.headers.get('retry-after'));
      assert.ok(ra > 0 && ra <= 900, `Retry-After ${r.headers.get('retry-after')}`);
    });

    test('POST /auth/refresh: cookie or body, rotated cookie, both spellings; empty body is 400', async () => {
      const u = await register(s);
      const l = await s.http('POST', '/auth/login', { json: { email: u.email, password: u.password } });
      const c1 = cookieOf(l);
      // the web client: empty body, no Content-Type, with the cookie
      const r = await s.http('POST', '/auth/refresh', { headers: { Cookie: `refresh_token=${tokenOf(c1)}` } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.version, 2);
      assert.equal(r.json.accessToken, r.json.access_token);
      assert.equal(r.json.refresh_token, undefined);
      const c2 = cookieOf(r);
      assert.ok(c2 && tokenOf(c2) !== tokenOf(c1));
      // a client without cookies sends it in the body
      const r2 = await s.http('POST', '/auth/refresh', { json: { refresh_token: tokenOf(c2) } });
      assert.equal(r2.status, 200, r2.text);
      assert.equal(r2.json.version, 3);
      // no cookie, empty body: 400, never 401
      const none = await s.http('POST', '/auth/refresh', {});
      assert.equal(none.status, 400, none.text);
      assert.equal(none.json.error, 'refresh_token_required');
      const bad = await s.http('POST', '/auth/refresh', { headers: { Cookie: 'refresh_token=' + 'Q'.repeat(43) } });
      assert.equal(bad.status, 401);
      assert.equal(bad.json.error, 'invalid_refresh');
      // reuse of the first cookie (after the grace) kills the family
      await ageRotation(s, tokenOf(c1));
      const reuse = await s.http('POST', '/auth/refresh', { headers: { Cookie: `refresh_token=${tokenOf(c1)}` } });
      assert.equal(reuse.status, 401);
      assert.equal(reuse.json.error, 'invalid_refresh');
      const me = await s.http('GET', '/auth/me', { headers: bearer(r2.json.access_token) });
      assert.equal(me.status, 401);
      assert.equal(me.json.error, 'token_revoked');
    });

    test('POST /auth/logout: 204 and cookie cleared; then refresh 401 and the access token token_revoked', async () => {
      const u = await register(s);
      const l = await s.http('POST', '/auth/login', { json: { email: u.email, password: u.password } });
      const tok = tokenOf(cookieOf(l));
      const r = await s.http('POST', '/auth/logout', { headers: { Cookie: `refresh_token=${tok}` } });
      assert.equal(r.status, 204, r.text);
      assert.equal(r.text, '');
      const cleared = cookieOf(r);
      assert.ok(cleared, 'logout did not clear the cookie');
      assert.match(cleared, /Max-Age=0/);
      const again = await s.http('POST', '/auth/refresh', { json: { refresh_token: tok } });
      assert.equal(again.status, 401);
      assert.equal(again.json.error, 'invalid_refresh');
      const me = await s.http('GET', '/auth/me', { headers: bearer(l.json.access_token) });
      assert.equal(me.status, 401);
      assert.equal(me.json.error, 'token_revoked');
      if (HAVE_ROOMS) {
        const rooms = await s.http('GET', '/rooms', { headers: bearer(l.json.access_token) });
        assert.equal(rooms.status, 401);
        assert.equal(rooms.json.error, 'token_revoked');
      }
      const none = await s.http('POST', '/auth/logout', {});
      assert.equal(none.status, 400);
      assert.equal(none.json.error, 'refresh_token_required');
      const twice = await s.http('POST', '/auth/logout', { json: { refresh_token: tok } });
      assert.equal(twice.status, 401);
      assert.equal(twice.json.error, 'invalid_refresh');
    });

    test('GET /auth/me: 401 missing_auth, invalid_auth, invalid_token', async () => {
      const r1 = await s.http('GET', '/auth/me');
      assert.equal(r1.status, 401);
      assert.equal(r1.json.error, 'missing_auth');
      const r2 = await s.http('GET', '/auth/me', { headers: { Authorization: 'Token abc' } });
      assert.equal(r2.status, 401);
      assert.equal(r2.json.error, 'invalid_auth');
      const u = await register(s);
      const l = await login(s, u.email, u.password);
      for (const [why, t] of Object.entries(badTokens(l.access_token))) {
        const r = await s.http('GET', '/api/auth/me', { headers: bearer(t) });
        assert.equal(r.status, 401, why);
        assert.equal(r.json.error, 'invalid_token', why);
      }
    });
  });
});

// ---------------------------------------------------------------------------
describe('auth with short lifetimes set by environment', () => {
  let s;
  before(async () => {
    const daemons = ['auth'];
    if (HAVE_GATEWAY) daemons.push('gateway');
    s = await startStack({
      daemons,
      env: { ACCESS_TOKEN_TTL: '2s', REFRESH_TOKEN_TTL: '4s', JWT_LEEWAY: '0s', LOGIN_FAILURE_WINDOW: '2s', LOGIN_MAX_FAILURES_PER_EMAIL: '2', LOGIN_MAX_FAILURES_PER_IP: '3' },
    });
  });
  after(async () => {
    if (s) await s.stop();
  });

  test('the ttls are reported and the access token expires (401 invalid_token)', async () => {
    const u = await register(s);
    const l = await login(s, u.email, u.password);
    assert.equal(l.access_ttl, 2);
    assert.equal(l.refresh_ttl, 4);
    const p = decodeJwt(l.access_token).payload;
    assert.equal(p.exp - p.iat, 2);
    assert.equal((await s.natsRequest('auth.me', {}, bearer(l.access_token))).status, 200);
    await sleep(3200);
    const r = await s.natsRequest('auth.me', {}, bearer(l.access_token));
    assert.equal(r.status, 401);
    assert.equal(r.json.code, 'invalid_token');
    // the refresh token still works, and renews the session
    const f = await s.natsRequest('auth.refresh', { refresh_token: l.refresh_token });
    assert.equal(f.status, 200, f.text);
    assert.equal((await s.natsRequest('auth.me', {}, bearer(f.json.access_token))).status, 200);
  });

  test('the refresh token expires with its session (401 invalid_refresh)', async () => {
    const u = await register(s);
    const l = await login(s, u.email, u.password);
    await sleep(4500);
    const r = await s.natsRequest('auth.refresh', { refresh_token: l.refresh_token });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.code, 'invalid_refresh');
    const o = await s.natsRequest('auth.logout', { refresh_token: l.refresh_token });
    assert.equal(o.status, 401);
    assert.equal(o.json.code, 'invalid_refresh');
  });

  test('the failure window lets a throttled email in again once it passed', async () => {
    const u = await register(s);
    for (let i = 0; i < 2; i++) assert.equal((await s.natsRequest('auth.login', { email: u.email, password: 'wrong password' })).status, 401);
    const r = await s.natsRequest('auth.login', { email: u.email, password: u.password });
    assert.equal(r.status, 429);
    assert.ok(r.json.retry_after >= 1 && r.json.retry_after <= 2, r.text);
    await sleep(r.json.retry_after * 1000 + 300);
    await login(s, u.email, u.password);
  });

  test('the per-ip limit follows LOGIN_MAX_FAILURES_PER_IP', async () => {
    const ip = { 'Calixio-Client-Ip': '2001:db8::1' };
    for (let i = 0; i < 3; i++) assert.equal((await s.natsRequest('auth.login', { email: newEmail('ip'), password: 'wrong password' }, ip)).status, 401);
    const r = await s.natsRequest('auth.login', { email: newEmail('ip'), password: 'wrong password' }, ip);
    assert.equal(r.status, 429);
    assert.equal(r.json.code, 'too_many_attempts');
  });
});

// ---------------------------------------------------------------------------
describe('start-up refuses bad configuration', () => {
  const base = { ...DEFAULT_ENV, NATS_URL: 'nats://127.0.0.1:1', DATABASE_URL: 'postgres://127.0.0.1:1/x', REDIS_ADDR: '127.0.0.1:1' };
  const cases = [
    ['JWT_SECRET=change-me', { JWT_SECRET: 'change-me' }, 'JWT_SECRET'],
    ['JWT_SECRET missing', { JWT_SECRET: undefined }, 'JWT_SECRET'],
    ['JWT_SECRET empty', { JWT_SECRET: '' }, 'JWT_SECRET'],
    ['ACCESS_TOKEN_TTL=10x', { ACCESS_TOKEN_TTL: '10x' }, 'ACCESS_TOKEN_TTL'],
    ['ACCESS_TOKEN_TTL=600 (no unit)', { ACCESS_TOKEN_TTL: '600' }, 'ACCESS_TOKEN_TTL'],
    ['REFRESH_TOKEN_TTL=forever', { REFRESH_TOKEN_TTL: 'forever' }, 'REFRESH_TOKEN_TTL'],
    ['LOGIN_FAILURE_WINDOW=-5m', { LOGIN_FAILURE_WINDOW: '-5m' }, 'LOGIN_FAILURE_WINDOW'],
    ['JWT_LEEWAY=abc', { JWT_LEEWAY: 'abc' }, 'JWT_LEEWAY'],
    ['PASSWORD_OPSLIMIT=0', { PASSWORD_OPSLIMIT: '0' }, 'PASSWORD_OPSLIMIT'],
    ['PASSWORD_MEMLIMIT=lots', { PASSWORD_MEMLIMIT: 'lots' }, 'PASSWORD_MEMLIMIT'],
    ['LOGIN_MAX_FAILURES_PER_EMAIL=0', { LOGIN_MAX_FAILURES_PER_EMAIL: '0' }, 'LOGIN_MAX_FAILURES_PER_EMAIL'],
  ];
  for (const [why, over, name] of cases) {
    test(`${why}: non-zero exit and a log line naming ${name}`, async () => {
      const env = { ...base, ...over };
      for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
      const r = await runBinary('cx-auth', env);
      assert.notEqual(r.code, 0, r.stderr);
      assert.equal(r.signal, null, r.stderr);
      const line = r.stderr.split('\n').find((l) => l.includes(name));
      assert.ok(line, `no log line names ${name}:\n${r.stderr}`);
      assert.equal(JSON.parse(line).level, 'error');
      assert.doesNotMatch(r.stderr, /LeakSanitizer|AddressSanitizer/);
    });
  }

  test('--help lists the variables and exits 0', async () => {
    const p = spawn(join(buildDir, 'cx-auth'), ['--help'], { env: { PATH: process.env.PATH } });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    const code = await new Promise((r) => p.on('exit', r));
    assert.equal(code, 0);
    for (const v of ['ACCESS_TOKEN_TTL', 'REFRESH_TOKEN_TTL', 'PASSWORD_OPSLIMIT', 'PASSWORD_MEMLIMIT', 'LOGIN_MAX_FAILURES_PER_EMAIL', 'LOGIN_MAX_FAILURES_PER_IP', 'LOGIN_FAILURE_WINDOW', 'DATABASE_URL', 'REDIS_ADDR', 'JWT_SECRET']) {
      assert.match(out, new RegExp(v));
    }
  });
});
