// secrets.test.mjs: no secret ever reaches a log line (issue 8).
//
// Runs a full flow through the gateway at LOG_LEVEL=debug (register, login,
// refresh by cookie and by body, reuse of a rotated refresh token, me,
// create, join as the owner and as a guest, webhooks, logout) plus the
// failures an attacker or a clumsy client causes (wrong password, tampered
// bearer, unknown refresh token, badly signed webhook), then reads the log
// of every daemon and looks for: the password, its Argon2id hash, every
// access token, every refresh token, the JWT_SECRET, the LiveKit API secret,
// every LiveKit join token and every webhook signature; for tokens also
// their signature part alone (header.payload is not secret, the signature
// makes it usable). None may appear.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { startStack } from '../harness/stack.mjs';
import * as lk from '../harness/livekit-webhook.mjs';

const JWT_SECRET = `jwt-secret-${randomBytes(18).toString('base64url')}`;
const LK_SECRET = `lk-api-secret-${randomBytes(18).toString('base64url')}`;
const PASSWORD = `Pw-${randomBytes(9).toString('base64url')}-correct horse`;
let s;
const now = () => Math.floor(Date.now() / 1000);

const refreshCookie = (r) => (r.headers.get('set-cookie') ?? '').match(/refresh_token=([^;]*)/)?.[1] ?? '';

before(async () => {
  s = await startStack({ env: { JWT_SECRET, LIVEKIT_API_SECRET: LK_SECRET, LOG_LEVEL: 'debug' } });
});

after(async () => {
  await s?.stop();
});

test('a full run logs no password, token, hash or secret', { timeout: 120000 }, async () => {
  const secrets = { password: [PASSWORD], jwt_secret: [JWT_SECRET], livekit_secret: [LK_SECRET], access: [], refresh: [], join: [], webhook: [], hash: [] };
  const email = `secret-${randomUUID().slice(0, 8)}@example.com`;

  let r = await s.http('POST', '/auth/register', { json: { name: 'Secret Keeper', email, password: PASSWORD } });
  assert.equal(r.status, 201, r.text);
  const [[hash]] = await s.psql(`SELECT password_hash FROM users WHERE id = '${r.json.user_id}'`);
  assert.match(hash, /^\$argon2id\$/);
  secrets.hash.push(hash);

  // failures first: a wrong password, an unknown refresh token
  r = await s.http('POST', '/auth/login', { json: { email, password: `${PASSWORD}x` } });
  assert.equal(r.status, 401, r.text);
  secrets.password.push(`${PASSWORD}x`);
  const fakeRefresh = randomBytes(32).toString('base64url');
  secrets.refresh.push(fakeRefresh);
  r = await s.http('POST', '/auth/refresh', { json: { refresh_token: fakeRefresh } });
  assert.equal(r.status, 401, r.text);

  r = await s.http('POST', '/auth/login', { json: { email, password: PASSWORD } });
  assert.equal(r.status, 200, r.text);
  let access = r.json.access_token;
  let refresh = refreshCookie(r);
  assert.ok(access && refresh);
  secrets.access.push(access);
  secrets.refresh.push(refresh);

  // refresh by cookie, then by body
  r = await s.http('POST', '/auth/refresh', { headers: { Cookie: `refresh_token=${refresh}` } });
  assert.equal(r.status, 200, r.text);
  const rotated = refresh;
  access = r.json.access_token;
  refresh = refreshCookie(r);
  secrets.access.push(access);
  secrets.refresh.push(refresh);
  r = await s.http('POST', '/auth/refresh', { json: { refresh_token: refresh } });
  assert.equal(r.status, 200, r.text);
  access = r.json.access_token;
  refresh = refreshCookie(r);
  secrets.access.push(access);
  secrets.refresh.push(refresh);

  // reuse of a rotated token (after REFRESH_REUSE_GRACE: rotation moved back): the session
  // family is revoked (logged as an event, not the token)
  await s.psql(`UPDATE refresh_tokens SET rotated_at = rotated_at - interval '1 minute' WHERE token_hash = sha256(convert_to('${rotated}', 'UTF8'))`);
  r = await s.http('POST', '/auth/refresh', { json: { refresh_token: rotated } });
  assert.equal(r.status, 401, r.text);
  r = await s.http('GET', '/auth/me', { headers: { Authorization: `Bearer ${access}` } });
  assert.equal(r.status, 401, 'revoked with its session');

  // a fresh session for the rest
  r = await s.http('POST', '/auth/login', { json: { email, password: PASSWORD } });
  assert.equal(r.status, 200, r.text);
  access = r.json.access_token;
  refresh = refreshCookie(r);
  secrets.access.push(access);
  secrets.refresh.push(refresh);
  const auth = { Authorization: `Bearer ${access}` };

  r = await s.http('GET', '/auth/me', { headers: auth });
  assert.equal(r.status, 200, r.text);
  // a tampered bearer (real header and payload, forged signature)
  const forged = `${access.split('.').slice(0, 2).join('.')}.${randomBytes(32).toString('base64url')}`;
  secrets.access.push(forged);
  r = await s.http('GET', '/auth/me', { headers: { Authorization: `Bearer ${forged}` } });
  assert.equal(r.status, 401, r.text);

  r = await s.http('POST', '/rooms', { json: { name: 'Secret room' }, headers: auth });
  assert.equal(r.status, 201, r.text);
  const room = r.json;
  r = await s.http('GET', '/rooms', { headers: auth });
  assert.equal(r.status, 200, r.text);
  r = await s.http('POST', `/rooms/${room.id}/join`, { json: {}, headers: auth });
  assert.equal(r.status, 200, r.text);
  secrets.join.push(r.json.token);
  r = await s.http('POST', `/rooms/${room.id}/join`, { json: { user_name: 'Guest' } });
  assert.equal(r.status, 200, r.text);
  secrets.join.push(r.json.token);

  // webhooks: a good one, its replay, and a badly signed one
  const body = lk.eventBody({ event: 'participant_joined', room: room.livekit_room, identity: 'guest-x', sid: lk.lkId('PA_'), name: 'Guest', joinedAt: now() - 1, createdAt: now() });
  const wauth = lk.signGo(body, { secret: LK_SECRET });
  secrets.webhook.push(wauth);
  for (let i = 0; i < 2; i++) {
    r = await lk.postWebhook(s, body, { auth: wauth });
    assert.equal(r.status, 200, r.text);
  }
  const badAuth = lk.signGo(body, { secret: 'wrong-secret' });
  secrets.webhook.push(badAuth);
  r = await lk.postWebhook(s, body, { auth: badAuth });
  assert.equal(r.status, 401, r.text);
  r = await s.http('GET', `/rooms/${room.id}/participants`, { headers: auth });
  assert.equal(r.status, 200, r.text);
  r = await s.http('POST', `/rooms/${room.id}/end`, { json: {}, headers: auth });
  assert.equal(r.status, 200, r.text);

  r = await s.http('POST', '/auth/logout', { headers: { Cookie: `refresh_token=${refresh}` } });
  assert.equal(r.status, 204, r.text);
  r = await s.http('GET', '/auth/me', { headers: auth });
  assert.equal(r.status, 401, 'revoked by logout');
  await new Promise((res) => setTimeout(res, 300)); // let the last log lines land

  // Every daemon's log, every secret, whole and (for tokens) by signature.
  const needles = [];
  for (const [kind, list] of Object.entries(secrets)) {
    for (const v of list) {
      assert.ok(v && v.length >= 16, `${kind} secret too short to search for: ${v}`);
      needles.push([kind, v]);
      const parts = v.split('.');
      if (parts.length === 3 && parts[2].length >= 16) needles.push([`${kind} signature`, parts[2]]);
    }
  }
  const found = [];
  let lines = 0;
  for (const [name, list] of Object.entries(s.daemons)) {
    for (const d of list) {
      const log = s.logs(name, d.idx);
      lines += log.split('\n').length;
      for (const [kind, v] of needles) {
        if (log.includes(v)) {
          const line = log.split('\n').find((l) => l.includes(v));
          found.push(`cx-${name}#${d.idx} logs the ${kind}: ${line.slice(0, 300)}`);
        }
      }
    }
  }
  console.log(`SECRETS searched=${needles.length} log_lines=${lines} daemons=${Object.keys(s.daemons).join(',')} found=${found.length}`);
  assert.ok(lines > 50, 'the debug logs were captured');
  assert.deepEqual(found, []);
});

// Issue 19 item 13: a NATS_URL with user:password@ must never be logged,
// neither when connecting nor on reconnect (nats.c reports the URL it
// reconnected to with its userinfo).
test('NATS credentials in NATS_URL never reach a log (connect, reconnect)', { timeout: 60000 }, async () => {
  const { user, pass } = s.natsCreds ? s.natsCreds('auth') : { user: 'auth', pass: `nats-pw-${randomBytes(12).toString('base64url')}` };
  const port = s.storeEnv.NATS_PORT;
  const dead = 1; // nothing listens on port 1
  const urlEnv = { NATS_USER: '', NATS_PASSWORD: '', NATS_PASSWORD_FILE: '' }; // only the URL carries them
  // a reachable server behind the credentials, plus a dead one in the list
  const live = s.startDaemon('auth', { ...urlEnv, NATS_URL: `nats://${user}:${pass}@127.0.0.1:${port},nats://${user}:${pass}@127.0.0.1:${dead}` });
  await s.waitReady('auth', 2);
  await s.storeCtl('restart', 'nats');
  const t1 = Date.now();
  while (!live.stderr.includes('reconnected') && Date.now() - t1 < 10000) await new Promise((r) => setTimeout(r, 50));
  await s.waitReady('auth', 2);
  const lines = [live].flatMap((d) => d.stderr.split('\n')).filter((l) => /nats/i.test(l));
  console.log(`SECRETS nats_url lines=${lines.length} reconnected=${live.stderr.includes('reconnected')}`);
  assert.ok(live.stderr.includes('reconnected'), `the live copy logged its reconnect:\n${live.stderr}`);
  const leaks = [];
  for (const [name, list] of Object.entries(s.daemons)) {
    for (const d of list) for (const l of d.stderr.split('\n')) if (l.includes(pass)) leaks.push(`cx-${name}#${d.idx}: ${l.slice(0, 300)}`);
  }
  assert.deepEqual(leaks, []);
  assert.ok(lines.some((l) => l.includes('***@127.0.0.1')), 'URLs are logged with the credentials masked');
});
