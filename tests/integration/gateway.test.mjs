// Gateway integration tests: real HTTP against cx-gateway, real nats-server,
// real services (auth, rooms, media, webhook) for the success and error
// mapping, and small NATS responders written here (with hand-encoded
// protobuf) for the paths the services cannot produce on demand: a stalled
// service (504), nobody subscribed (503), arbitrary error replies, exactly
// what the gateway forwards in headers and bodies.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import { startStack, freePort, sleep } from '../harness/stack.mjs';

// ---------------------------------------------------------------- protobuf
// Just enough of the wire format for calixio.v1 messages: strings, bytes,
// int32/int64 varints, nested messages.
function varint(n) {
  const out = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}
function pbEncode(fields) {
  // fields: [[num, value]]; string/Buffer -> length-delimited, number -> varint
  const parts = [];
  for (const [num, v] of fields) {
    if (v === undefined || v === null) continue;
    if (typeof v === 'number' || typeof v === 'bigint') {
      parts.push(varint((num << 3) | 0), varint(v));
    } else {
      const b = Buffer.isBuffer(v) ? v : Buffer.from(v);
      parts.push(varint((num << 3) | 2), varint(b.length), b);
    }
  }
  return Buffer.concat(parts);
}
function pbDecode(buf) {
  // -> Map num -> [values]; varints as Number, length-delimited as Buffer
  const out = new Map();
  let i = 0;
  const rd = () => {
    let v = 0n, s = 0n, b;
    do {
      b = buf[i++];
      v |= BigInt(b & 0x7f) << s;
      s += 7n;
    } while (b & 0x80);
    return v;
  };
  while (i < buf.length) {
    const key = Number(rd());
    const num = key >> 3, wt = key & 7;
    let val;
    if (wt === 0) val = Number(rd());
    else if (wt === 2) {
      const n = Number(rd());
      val = buf.subarray(i, i + n);
      i += n;
    } else throw new Error(`wire type ${wt}`);
    if (!out.has(num)) out.set(num, []);
    out.get(num).push(val);
  }
  return out;
}
const pbStr = (m, n) => (m.get(n) ? m.get(n)[0].toString() : undefined);
// calixio.v1.Error{code=1,message=2,reason=3,fields=4{field=1,rule=2},retry_after=5}
const pbError = ({ code, message, reason, fields = [], retry_after }) =>
  pbEncode([
    [1, code],
    [2, message],
    [3, reason],
    ...fields.map(([f, r]) => [4, pbEncode([[1, f], [2, r]])]),
    [5, retry_after],
  ]);

// ---------------------------------------------------------------- helpers
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// fetch-like call against any base URL; -> {status, headers, json, text, ms}
async function req(base, method, path, { json, body, headers = {} } = {}) {
  const h = { ...headers };
  if (json !== undefined) {
    body = JSON.stringify(json);
    h['Content-Type'] ??= 'application/json';
  }
  const t0 = Date.now();
  const r = await fetch(base + path, { method, headers: h, body, redirect: 'manual' });
  const text = await r.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: r.status, headers: r.headers, json: parsed, text, ms: Date.now() - t0 };
}

// One request on a keep-alive agent; resolves with the node response facts.
function agentRequest(agent, base, method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(base + path);
    const r = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, agent, headers: { ...headers, ...(body ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } : {}) } },
      (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data, reused: r.reusedSocket }));
      },
    );
    r.on('error', reject);
    if (body) r.write(body);
    r.end();
  });
}

// Raw HTTP exchange over one socket: writes `text`, returns what came back
// until the server closes or `untilMs` passes.
function rawExchange(port, text, untilMs = 3000) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    const t = setTimeout(() => {
      sock.destroy();
      resolve(data);
    }, untilMs);
    sock.on('data', (d) => {
      data += d.toString();
    });
    sock.on('close', () => {
      clearTimeout(t);
      resolve(data);
    });
    sock.on('error', () => {});
    sock.write(text);
  });
}

async function startGateway(s, env) {
  const port = await freePort();
  const d = s.startDaemon('gateway', { HTTP_ADDR: `127.0.0.1:${port}`, ...env });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (d.exit) throw new Error(`gateway exited: ${d.stderr}`);
    try {
      if ((await fetch(base + '/healthz')).status === 200) return { base, port, d };
    } catch {
      /* not yet */
    }
    await sleep(50);
  }
  throw new Error('extra gateway did not start');
}

const ROUTES = [
  'POST /auth/register', 'POST /auth/login', 'POST /auth/refresh', 'POST /auth/logout',
  'GET /auth/me', 'GET /rooms', 'POST /rooms', 'GET /rooms/{id}', 'POST /rooms/{id}/join',
  'POST /rooms/{id}/end', 'GET /rooms/{id}/participants', 'POST /livekit/webhook',
  'GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /openapi.json',
  // account routes (issue 18)
  'GET /users/me', 'PATCH /users/me', 'DELETE /users/me', 'GET /users/me/settings',
  'PATCH /users/me/settings', 'PUT /users/me/settings', 'GET /users/me/video-profiles',
  'POST /users/me/video-profiles', 'PATCH /users/me/video-profiles/{profile_id}',
  'DELETE /users/me/video-profiles/{profile_id}', 'POST /auth/password', 'GET /auth/sessions',
  'DELETE /auth/sessions/{session_id}',
  // issue 16
  'PATCH /rooms/{id}', 'DELETE /rooms/{id}', 'GET /rooms/by-code/{code}',
  'POST /rooms/by-code/{code}/join', 'POST /rooms/{id}/leave',
  // issue 17
  'POST /rooms/{id}/invites', 'GET /rooms/{id}/invites', 'DELETE /rooms/{id}/invites/{invite_id}',
  'GET /rooms/{id}/waiting', 'GET /rooms/{id}/waiting/{waiting_id}', 'DELETE /rooms/{id}/waiting/{waiting_id}',
  'POST /rooms/{id}/waiting/{waiting_id}/approve', 'POST /rooms/{id}/waiting/{waiting_id}/reject',
  'POST /rooms/{id}/participants/{identity}/remove', 'POST /rooms/{id}/participants/{identity}/mute',
  'POST /rooms/{id}/participants/{identity}/role',
  // issue 13 (live events, local to the gateway)
  'GET /rooms/{id}/events',
  // history, audit, call quality (issue 18)
  'GET /users/me/calls', 'GET /rooms/{id}/history', 'GET /rooms/{id}/audit',
  'POST /rooms/{id}/stats', 'GET /rooms/{id}/stats',
  // issue 13 (chat)
  'POST /rooms/{id}/messages', 'GET /rooms/{id}/messages',
  'PATCH /rooms/{id}/messages/{message_id}', 'DELETE /rooms/{id}/messages/{message_id}',
];

// ---------------------------------------------------------------- the stack
let s; // stack: every service + the main gateway (prefix calixio)
let fake; // second gateway on prefix "gwtest": only our JS responders serve it
let nc; // NATS connection for the responders
const ORIGIN = 'http://localhost:5173';

before(async () => {
  s = await startStack({
    daemons: ['auth', 'rooms', 'media', 'webhook', 'gateway'],
    env: { GATEWAY_REQUEST_TIMEOUT: '1500ms', GATEWAY_THREADS: '2' },
  });
  fake = await startGateway(s, {
    CALIXIO_SUBJECT_PREFIX: 'gwtest',
    // a second deployment (prefix gwtest) served by the test's responders: the
    // permission table grants the gateway user prefix calixio only
    ...s.natsAdminEnv,
    NATS_PASSWORD_FILE: '',
    GATEWAY_REQUEST_TIMEOUT: '1s',
    TRUST_PROXY: 'true',
  });
  nc = await connect({ servers: s.natsUrl, ...s.natsAuth });
});

after(async () => {
  if (nc) await nc.close();
  if (s) await s.stop();
});

// A responder on gwtest.<subject>: handler(msg) -> {headers, body} | null (no answer).
// Awaited: the subscription is known to the server before the test sends.
async function respond(subject, handler) {
  const sub = nc.subscribe(`gwtest.${subject}`);
  const seen = [];
  (async () => {
    for await (const m of sub) {
      seen.push(m);
      const a = await handler(m);
      if (!a) continue;
      const h = natsHeaders();
      for (const [k, v] of Object.entries(a.headers ?? {})) h.set(k, v);
      m.respond(a.body ?? new Uint8Array(0), { headers: h });
    }
  })();
  await nc.flush();
  return { seen, stop: () => sub.unsubscribe() };
}

async function registerAndLogin(email, name = 'Gate Keeper') {
  const reg = await s.http('POST', '/auth/register', { json: { name, email, password: 'correct horse battery' } });
  assert.equal(reg.status, 201, reg.text);
  const login = await s.http('POST', '/auth/login', { json: { email, password: 'correct horse battery' } });
  assert.equal(login.status, 200, login.text);
  return { userId: reg.json.user_id, token: login.json.access_token, login };
}

// ---------------------------------------------------------------- auth routes
describe('auth routes through the gateway', () => {
  it('register: 201 {user_id}, duplicate 409 email_exists, validation 400 with reason and fields', async () => {
    const r = await s.http('POST', '/auth/register', { json: { name: 'Reg One', email: 'reg1@example.com', password: 'password-123' } });
    assert.equal(r.status, 201);
    assert.deepEqual(Object.keys(r.json), ['user_id']);
    assert.match(r.json.user_id, UUID_RE);
    assert.equal(r.headers.get('content-type'), 'application/json');
    const dup = await s.http('POST', '/auth/register', { json: { name: 'Reg One', email: 'reg1@example.com', password: 'password-123' } });
    assert.equal(dup.status, 409);
    assert.equal(dup.json.error, 'email_exists');
    const bad = await s.http('POST', '/auth/register', { json: { name: 'X', email: 'not-an-email', password: 'password-123' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error, 'validation_failed');
    assert.deepEqual(Object.keys(bad.json), ['error', 'message', 'reason', 'fields']);
    assert.equal(bad.json.reason, 'email_email');
    assert.equal(bad.json.fields.email, 'email');
  });

  it('invalid JSON, unknown keys and wrong types are 400 invalid_json', async () => {
    for (const body of ['not json', '{"name":', '[1,2]', '{"name":"a","email":"b@c.de","password":"12345678","admin":true}', '{"name":5}']) {
      const r = await s.http('POST', '/auth/register', { body, headers: { 'Content-Type': 'application/json' } });
      assert.equal(r.status, 400, body);
      assert.equal(r.json.error, 'invalid_json', body);
      assert.equal(typeof r.json.message, 'string');
    }
    const unk = await s.http('POST', '/rooms', { json: { nme: 'x' } });
    assert.equal(unk.status, 400);
    assert.match(unk.json.message, /nme/);
  });

  it('login: cookie carries the refresh token, the JSON body does not; wrong password 401', async () => {
    const { login, userId } = await registerAndLogin('login1@example.com', 'Login One');
    assert.deepEqual(Object.keys(login.json).sort(), ['access_token', 'access_ttl', 'name', 'refresh_ttl', 'token_type', 'user_id']);
    assert.equal(login.json.user_id, userId);
    assert.equal(login.json.name, 'Login One');
    const cookie = login.headers.get('set-cookie');
    assert.match(cookie, new RegExp(`^refresh_token=[A-Za-z0-9_-]+; HttpOnly; Path=/; Max-Age=${login.json.refresh_ttl}; SameSite=Lax$`));
    const wrong = await s.http('POST', '/auth/login', { json: { email: 'login1@example.com', password: 'nope-nope-nope' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error, 'invalid_credentials');
    assert.equal(wrong.headers.get('set-cookie'), null);
  });

  it('refresh: empty body without Content-Type and no cookie is 400 refresh_token_required', async () => {
    const r = await fetch(s.url + '/auth/refresh', { method: 'POST' });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error, 'refresh_token_required');
    const api = await fetch(s.url + '/api/auth/refresh', { method: 'POST', body: '' });
    assert.equal(api.status, 400);
  });

  it('refresh from the cookie and from the body rotates the cookie; reuse is 401 invalid_refresh', async () => {
    const { login } = await registerAndLogin('refresh1@example.com');
    const c1 = login.headers.get('set-cookie').split(';')[0];
    const r1 = await s.http('POST', '/auth/refresh', { headers: { Cookie: `theme=dark; ${c1}` } });
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.json.refresh_token, undefined);
    assert.equal(r1.json.access_token, r1.json.accessToken);
    const c2 = r1.headers.get('set-cookie');
    assert.match(c2, /^refresh_token=[A-Za-z0-9_-]+; HttpOnly; Path=\/; Max-Age=\d+; SameSite=Lax$/);
    assert.notEqual(c2.split(';')[0], c1);
    // body form (a client without cookies)
    const t2 = c2.split(';')[0].slice('refresh_token='.length);
    const r2 = await s.http('POST', '/api/v1/auth/refresh', { json: { refresh_token: t2 } });
    assert.equal(r2.status, 200, r2.text);
    assert.ok(r2.headers.get('set-cookie'));
    // the first token again, after REFRESH_REUSE_GRACE (rotation moved back): reuse
    await s.psql(`UPDATE refresh_tokens SET rotated_at = rotated_at - interval '1 minute' WHERE token_hash = sha256(convert_to('${c1.slice('refresh_token='.length)}', 'UTF8'))`);
    const reuse = await s.http('POST', '/auth/refresh', { headers: { Cookie: c1 } });
    assert.equal(reuse.status, 401);
    assert.equal(reuse.json.error, 'invalid_refresh');
  });

  it('logout: 204, no body, no Content-Type, cookie cleared; then refresh is 401', async () => {
    const { login } = await registerAndLogin('logout1@example.com');
    const c = login.headers.get('set-cookie').split(';')[0];
    const r = await s.http('POST', '/auth/logout', { headers: { Cookie: c } });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.equal(r.headers.get('content-type'), null);
    assert.equal(r.headers.get('set-cookie'), 'refresh_token=; HttpOnly; Path=/; Max-Age=0; SameSite=Lax');
    const again = await s.http('POST', '/auth/refresh', { headers: { Cookie: c } });
    assert.equal(again.status, 401);
  });

  it('me: 200 with the user, 401 missing_auth / invalid_auth / invalid_token', async () => {
    const { token, userId } = await registerAndLogin('me1@example.com', 'Me One');
    const me = await s.http('GET', '/auth/me', { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(me.status, 200);
    assert.deepEqual(Object.keys(me.json), ['id', 'name', 'email', 'created_at']);
    assert.equal(me.json.id, userId);
    assert.equal((await s.http('GET', '/auth/me')).json.error, 'missing_auth');
    assert.equal((await s.http('GET', '/auth/me', { headers: { Authorization: 'Basic abc' } })).json.error, 'invalid_auth');
    const bad = await s.http('GET', '/auth/me', { headers: { Authorization: 'Bearer abc.def.ghi' } });
    assert.equal(bad.status, 401);
    assert.equal(bad.json.error, 'invalid_token');
  });
});

// ---------------------------------------------------------------- rooms + media
describe('rooms and join through the gateway', () => {
  let owner, other, room;
  before(async () => {
    owner = await registerAndLogin('owner@example.com', 'Owner');
    other = await registerAndLogin('other@example.com', 'Other');
  });
  const auth = (u) => ({ Authorization: `Bearer ${u.token}` });

  it('create 201 Room, get 200, list is a bare array; prefixes give the same answers', async () => {
    const c = await s.http('POST', '/rooms', { json: { name: 'Gateway room', max_participants: 10 }, headers: auth(owner) });
    assert.equal(c.status, 201, c.text);
    room = c.json;
    assert.match(room.id, UUID_RE);
    assert.equal(room.status, 'active');
    assert.equal(room.owner_user_id, owner.userId);
    for (const p of ['', '/api', '/api/v1']) {
      const g = await s.http('GET', `${p}/rooms/${room.id}`, { headers: auth(owner) });
      assert.equal(g.status, 200, p);
      assert.deepEqual(g.json, room);
      const l = await s.http('GET', `${p}/rooms?limit=10&offset=0&unknown=1`, { headers: auth(owner) });
      assert.equal(l.status, 200, l.text);
      assert.ok(Array.isArray(l.json));
      assert.equal(l.json[0].id, room.id);
    }
    // uppercase UUID is the same room
    const up = await s.http('GET', `/rooms/${room.id.toUpperCase()}`, { headers: auth(owner) });
    assert.equal(up.status, 200);
    assert.equal(up.json.id, room.id);
  });

  it('list: a bad number in the query is 400 validation_failed naming the field', async () => {
    const r = await s.http('GET', '/rooms?limit=ten', { headers: auth(owner) });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'validation_failed');
    assert.equal(r.json.reason, 'limit_integer');
    assert.deepEqual(r.json.fields, { limit: 'integer' });
    assert.equal((await s.http('GET', '/rooms?offset=1e3', { headers: auth(owner) })).status, 400);
    assert.equal((await s.http('GET', '/rooms')).status, 401);
  });

  it('room errors: unknown UUID 404 from the service, malformed id 404 before NATS', async () => {
    const r = await s.http('GET', '/rooms/00000000-0000-4000-8000-000000000000', { headers: auth(owner) });
    assert.equal(r.status, 404);
    assert.equal(r.json.error, 'room_not_found');
    for (const bad of ['not-a-uuid', '123', '00000000-0000-4000-8000-00000000000g', '00000000000040008000000000000000']) {
      const b = await s.http('GET', `/rooms/${bad}`, { headers: auth(owner) });
      assert.equal(b.status, 404, bad);
      assert.equal(b.json.error, 'room_not_found');
    }
  });

  it('join: member token with identity = user id, guest without token, invalid token 401', async () => {
    const j = await s.http('POST', `/rooms/${room.id}/join`, { json: {}, headers: auth(other) });
    assert.equal(j.status, 200, j.text);
    // the old keys in their old order; issue 16 appended role and room_token
    assert.deepEqual(Object.keys(j.json), ['room_id', 'room_name', 'livekit_room', 'token', 'expires_in', 'state', 'url', 'identity', 'role', 'room_token']);
    assert.equal(j.json.identity, other.userId);
    assert.deepEqual(j.json.state, { mode: 'conference' });
    const g = await s.http('POST', `/api/v1/rooms/${room.id}/join`, { json: { user_name: 'Visitor' } });
    assert.equal(g.status, 200, g.text);
    assert.match(g.json.identity, /^guest-[0-9a-f]{32}$/);
    const e = await fetch(`${s.url}/rooms/${room.id}/join`, { method: 'POST' }); // empty body is fine
    assert.equal(e.status, 200);
    const bad = await s.http('POST', `/rooms/${room.id}/join`, { json: {}, headers: { Authorization: 'Bearer x.y.z' } });
    assert.equal(bad.status, 401);
    const idInBody = await s.http('POST', `/rooms/${room.id}/join`, { json: { id: room.id } });
    assert.equal(idInBody.status, 400);
    assert.equal(idInBody.json.error, 'invalid_json');
  });

  it('end: non-owner 403, owner 200 (body {} or empty), twice 200, then join 409 room_ended', async () => {
    const f = await s.http('POST', `/rooms/${room.id}/end`, { json: {}, headers: auth(other) });
    assert.equal(f.status, 403);
    assert.equal(f.json.error, 'room_forbidden');
    const e1 = await s.http('POST', `/rooms/${room.id}/end`, { json: {}, headers: auth(owner) });
    assert.equal(e1.status, 200, e1.text);
    assert.equal(e1.json.status, 'ended');
    const e2 = await fetch(`${s.url}/rooms/${room.id}/end`, { method: 'POST', headers: auth(owner) });
    assert.equal(e2.status, 200);
    const junk = await s.http('POST', `/rooms/${room.id}/end`, { json: { force: true }, headers: auth(owner) });
    assert.equal(junk.status, 400);
    assert.equal(junk.json.error, 'invalid_json');
    // media learns about the end from a room event (its cache may lag briefly)
    let j;
    for (let i = 0; i < 20; i++) {
      j = await s.http('POST', `/rooms/${room.id}/join`, { json: {}, headers: auth(owner) });
      if (j.status !== 200) break;
      await sleep(100);
    }
    assert.equal(j.status, 409);
    assert.equal(j.json.error, 'room_ended');
  });

  it('participants: a bare array (last: it needs the room service alive)', async () => {
    const p = await s.http('GET', `/rooms/${room.id}/participants`, { headers: auth(owner) });
    assert.equal(p.status, 200, p.text);
    assert.ok(Array.isArray(p.json));
  });

});

// ---------------------------------------------------------------- webhook
describe('webhook route', () => {
  it('forwards to the webhook service: unsigned 401 invalid_webhook; wrong Content-Type 415', async () => {
    const r = await s.http('POST', '/livekit/webhook', { body: '{"event":"room_started"}', headers: { 'Content-Type': 'application/webhook+json', Authorization: 'not-a-jwt' } });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.error, 'invalid_webhook');
    const t = await s.http('POST', '/livekit/webhook', { body: '{}', headers: { 'Content-Type': 'text/plain' } });
    assert.equal(t.status, 415);
    assert.equal(t.json.error, 'unsupported_media_type');
  });

  it('passes the exact body bytes, Authorization and Content-Type in a WebhookRequest', async () => {
    const rsp = await respond('webhook.livekit', () => ({ body: pbEncode([[1, 'ok']]) }));
    const raw = '{ "event" : "participant_joined",\n "x": "\u00e9" }  ';
    const r = await req(fake.base, 'POST', '/livekit/webhook', { body: raw, headers: { 'Content-Type': 'application/webhook+json; charset=utf-8', Authorization: 'eyJ.raw.jwt' } });
    rsp.stop();
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { status: 'ok' });
    const m = pbDecode(Buffer.from(rsp.seen[0].data));
    assert.equal(m.get(1)[0].toString('utf8'), raw);
    assert.equal(pbStr(m, 2), 'eyJ.raw.jwt');
    assert.equal(pbStr(m, 3), 'application/webhook+json; charset=utf-8');
    assert.equal(rsp.seen[0].headers?.get('Authorization') ?? '', '');
  });
});

// ---------------------------------------------------------------- routing
describe('routing', () => {
  it('unknown path 404 not_found, wrong method 405 with Allow', async () => {
    for (const p of ['/nope', '/api/v2/rooms', '/rooms/', '/auth', '/api/v1', '//rooms', '/healthz/x']) {
      const r = await s.http('GET', p);
      assert.equal(r.status, 404, p);
      assert.equal(r.json.error, 'not_found', p);
      assert.equal(r.headers.get('content-type'), 'application/json');
    }
    const d = await s.http('DELETE', '/rooms');
    assert.equal(d.status, 405);
    assert.equal(d.json.error, 'method_not_allowed');
    assert.equal(d.headers.get('allow'), 'GET, POST, OPTIONS');
    const g = await s.http('GET', '/api/v1/auth/login');
    assert.equal(g.status, 405);
    assert.equal(g.headers.get('allow'), 'POST, OPTIONS');
    const p = await s.http('PUT', `/rooms/00000000-0000-4000-8000-000000000000`);
    assert.equal(p.status, 405);
    assert.equal(p.headers.get('allow'), 'GET, PATCH, DELETE, OPTIONS');
  });

  it('a malformed {id} never reaches NATS', async () => {
    const rsp = await respond('rooms.get', () => ({ body: pbEncode([[1, 'x']]) }));
    const bad = await req(fake.base, 'GET', '/rooms/zzz');
    const good = await req(fake.base, 'GET', '/rooms/00000000-0000-4000-8000-000000000000');
    rsp.stop();
    assert.equal(bad.status, 404);
    assert.equal(bad.json.error, 'room_not_found');
    assert.equal(good.status, 200);
    assert.equal(rsp.seen.length, 1);
    assert.equal(pbStr(pbDecode(Buffer.from(rsp.seen[0].data)), 1), '00000000-0000-4000-8000-000000000000');
  });

  it('healthz, readyz, metrics and openapi answer under every prefix', async () => {
    for (const p of ['', '/api', '/api/v1']) {
      assert.deepEqual((await s.http('GET', `${p}/healthz`)).json, { status: 'ok' });
      assert.deepEqual((await s.http('GET', `${p}/readyz`)).json, { status: 'ok' });
      assert.equal((await s.http('GET', `${p}/metrics`)).status, 200);
      assert.equal((await s.http('GET', `${p}/openapi.json`)).json.openapi, '3.0.3');
    }
  });
});

// ---------------------------------------------------------------- size limits
describe('body size limits', () => {
  it('API bodies: 64 KiB accepted, one byte more 413 payload_too_large', async () => {
    const pad = (n) => {
      const base = '{"name":"","email":"big@example.com","password":"password-123"}';
      return base.replace('"name":""', `"name":"${'a'.repeat(n - base.length)}"`);
    };
    const ok = await s.http('POST', '/auth/register', { body: pad(65536), headers: { 'Content-Type': 'application/json' } });
    assert.equal(ok.status, 400); // decoded; the name is too long for the service
    assert.equal(ok.json.error, 'validation_failed');
    const big = await s.http('POST', '/auth/register', { body: pad(65537), headers: { 'Content-Type': 'application/json' } });
    assert.equal(big.status, 413);
    assert.equal(big.json.error, 'payload_too_large');
  });

  it('webhook bodies: up to 1 MiB reach the service, one byte more 413', async () => {
    const body = (n) => '{"x":"' + 'a'.repeat(n - 8) + '"}';
    const send = (n) => s.http('POST', '/livekit/webhook', { body: body(n), headers: { 'Content-Type': 'application/webhook+json' } });
    const ok = await send(1024 * 1024 - 16 * 1024);
    assert.equal(ok.status, 401, ok.text); // the service refused the missing signature
    // exactly 1 MiB fits in a NATS message only when the server allows it
    // (max_payload > 1 MiB plus the envelope); otherwise 413, never a 503
    const full = await send(1024 * 1024);
    assert.equal(full.status, nc.info.max_payload > 1024 * 1024 + 8192 ? 401 : 413, full.text);
    const big = await send(1024 * 1024 + 1);
    assert.equal(big.status, 413);
    assert.equal(big.json.error, 'payload_too_large');
  });

  it('an announced huge body is refused before it is sent (Expect: 100-continue)', async () => {
    const port = new URL(s.url).port;
    const out = await rawExchange(port, 'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\nExpect: 100-continue\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 413 /);
    assert.doesNotMatch(out, /100 Continue/);
  });
});

// ---------------------------------------------------------------- CORS
describe('CORS', () => {
  it('allowed origin: every answer (success, error, preflight) carries the CORS headers', async () => {
    const ok = await s.http('GET', '/healthz', { headers: { Origin: ORIGIN } });
    const err = await s.http('GET', '/nope', { headers: { Origin: ORIGIN } });
    const svcErr = await s.http('GET', '/auth/me', { headers: { Origin: ORIGIN } });
    for (const r of [ok, err, svcErr]) {
      assert.equal(r.headers.get('access-control-allow-origin'), ORIGIN);
      assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
      assert.match(r.headers.get('vary'), /Origin/);
    }
    const pre = await s.http('OPTIONS', '/api/auth/refresh', { headers: { Origin: 'http://127.0.0.1:5173', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.text, '');
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://127.0.0.1:5173');
    assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
    assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
    assert.equal(pre.headers.get('access-control-allow-headers'), 'Authorization, Content-Type, Accept, X-Requested-With, X-Request-Id');
    const pre404 = await s.http('OPTIONS', '/nope', { headers: { Origin: ORIGIN } });
    assert.equal(pre404.status, 404);
    assert.equal(pre404.headers.get('access-control-allow-origin'), ORIGIN);
  });

  it('origin not in the list: no Access-Control-Allow-Origin', async () => {
    const r = await s.http('GET', '/healthz', { headers: { Origin: 'http://evil.example' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    const pre = await s.http('OPTIONS', '/rooms', { headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
    assert.equal(pre.headers.get('access-control-allow-credentials'), null);
  });

  it('"*" reflects any origin', async () => {
    const g = await startGateway(s, { CORS_ALLOWED_ORIGINS: '*' });
    const r = await req(g.base, 'GET', '/healthz', { headers: { Origin: 'https://anything.example:8443' } });
    assert.equal(r.headers.get('access-control-allow-origin'), 'https://anything.example:8443');
    assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(await s.killDaemon('gateway', s.daemons.gateway.indexOf(g.d)), 0);
  });
});

// ---------------------------------------------------------------- request ids
describe('request ids', () => {
  it('X-Request-Id is echoed, forwarded and in the service log lines', async () => {
    const rid = `gw-test-${Date.now()}`;
    const r = await s.http('POST', '/auth/register', { json: { name: 'Rid', email: 'rid@example.com', password: 'password-123' }, headers: { 'X-Request-Id': rid } });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get('x-request-id'), rid);
    await sleep(100);
    const authLines = s.logs('auth').split('\n').filter((l) => l.includes(`"request_id":"${rid}"`));
    assert.ok(authLines.length >= 1, 'auth logged the request id');
    const gwLines = s.logs('gateway').split('\n').filter((l) => l.includes(`"request_id":"${rid}"`));
    assert.ok(gwLines.some((l) => l.includes('POST /auth/register 201')), 'gateway logged the request');
    assert.ok(!s.logs('gateway').includes('correct horse') && !s.logs('gateway').includes('password-123'));
  });

  it('missing or insane X-Request-Id: a fresh one is generated', async () => {
    const a = await s.http('GET', '/healthz');
    const b = await s.http('GET', '/healthz', { headers: { 'X-Request-Id': 'has space' } });
    const c = await s.http('GET', '/healthz', { headers: { 'X-Request-Id': 'x'.repeat(200) } });
    for (const r of [a, b, c]) assert.match(r.headers.get('x-request-id'), UUID_RE);
    assert.notEqual(a.headers.get('x-request-id'), b.headers.get('x-request-id'));
  });

  it('forwards Calixio-Request-Id, Authorization, Calixio-Client-Ip (X-Forwarded-For when trusted), Calixio-User-Agent', async () => {
    const rsp = await respond('auth.me', () => ({ body: pbEncode([[1, 'u1'], [2, 'N']]) }));
    const r = await req(fake.base, 'GET', '/auth/me', { headers: { 'X-Request-Id': 'fwd-1', Authorization: 'Bearer abc', 'X-Forwarded-For': '203.0.113.9, 198.51.100.7', 'User-Agent': 'gw-test/1.0' } });
    rsp.stop();
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { id: 'u1', name: 'N' });
    const h = rsp.seen[0].headers;
    assert.equal(h.get('Calixio-Request-Id'), 'fwd-1');
    assert.equal(h.get('Authorization'), 'Bearer abc');
    assert.equal(h.get('Calixio-Client-Ip'), '198.51.100.7');
    assert.equal(h.get('Calixio-User-Agent'), 'gw-test/1.0');
  });
});

// ---------------------------------------------------------------- NATS outcomes
describe('NATS outcomes', () => {
  it('error replies map status, code, message, reason, fields and Retry-After', async () => {
    const rsp = await respond('rooms.create', () => ({
      headers: { 'Nats-Service-Error-Code': '429', 'Nats-Service-Error': 'slow down' },
      body: pbError({ code: 'too_many_attempts', message: 'try later', reason: 'name_max', fields: [['name', 'max'], ['metadata', 'json']], retry_after: 7 }),
    }));
    const r = await req(fake.base, 'POST', '/rooms', { json: { name: 'abc' } });
    rsp.stop();
    assert.equal(r.status, 429);
    assert.equal(r.text, '{"error":"too_many_attempts","message":"try later","reason":"name_max","fields":{"name":"max","metadata":"json"}}');
    assert.equal(r.headers.get('retry-after'), '7');
  });

  it('an error without body uses the Nats-Service-Error text; a garbage reply is 502', async () => {
    const rsp = await respond('rooms.get', (m) =>
      pbStr(pbDecode(Buffer.from(m.data)), 1).endsWith('1')
        ? { headers: { 'Nats-Service-Error-Code': '503', 'Nats-Service-Error': 'store down' } }
        : { body: Buffer.from([0xff, 0xff, 0xff]) },
    );
    const a = await req(fake.base, 'GET', '/rooms/00000000-0000-4000-8000-000000000001');
    const b = await req(fake.base, 'GET', '/rooms/00000000-0000-4000-8000-000000000002');
    rsp.stop();
    assert.equal(a.status, 503);
    assert.deepEqual(a.json, { error: 'unavailable', message: 'store down' });
    assert.equal(b.status, 502);
    assert.equal(b.json.error, 'upstream_error');
  });

  it('a stalled service is 504 timeout after the timeout, without a hang, and does not block others', async () => {
    const rsp = await respond('rooms.participants', () => null); // never answers
    const t0 = Date.now();
    const stalled = Array.from({ length: 20 }, () => req(fake.base, 'GET', '/rooms/00000000-0000-4000-8000-000000000000/participants'));
    let stalledDone = false;
    Promise.all(stalled).then(() => (stalledDone = true));
    await sleep(100);
    // other requests go through while 20 wait on NATS (thread pool of 2 cores)
    const h = await req(fake.base, 'GET', '/healthz');
    assert.equal(h.status, 200);
    assert.equal(stalledDone, false);
    const rs = await Promise.all(stalled);
    const elapsed = Date.now() - t0;
    rsp.stop();
    for (const r of rs) {
      assert.equal(r.status, 504);
      assert.deepEqual(Object.keys(r.json), ['error', 'message']);
      assert.equal(r.json.error, 'timeout');
    }
    assert.ok(elapsed >= 900, `504 came after ${elapsed} ms, before the 1 s timeout`);
    assert.ok(elapsed < 4000, `504 took ${elapsed} ms`);
  });

  it('no responders is 503 unavailable at once (well before the timeout)', async () => {
    const r = await req(fake.base, 'GET', '/auth/me');
    assert.equal(r.status, 503);
    assert.equal(r.json.error, 'unavailable');
    assert.ok(r.ms < 900, `took ${r.ms} ms`);
  });

  it('login/refresh replies from any service: cookie attributes follow TLS (X-Forwarded-Proto when trusted)', async () => {
    const reply = pbEncode([[1, 'N'], [2, 'uid'], [3, 'acc'], [4, 'Bearer'], [5, 900], [6, 3600], [7, 'rt_abc-123']]);
    const rsp = await respond('auth.login', () => ({ body: reply }));
    const plain = await req(fake.base, 'POST', '/auth/login', { json: { email: 'a@b.c', password: 'x' } });
    const tls = await req(fake.base, 'POST', '/auth/login', { json: { email: 'a@b.c', password: 'x' }, headers: { 'X-Forwarded-Proto': 'https' } });
    rsp.stop();
    assert.equal(plain.status, 200);
    assert.deepEqual(plain.json, { name: 'N', user_id: 'uid', access_token: 'acc', token_type: 'Bearer', access_ttl: 900, refresh_ttl: 3600 });
    assert.equal(plain.headers.get('set-cookie'), 'refresh_token=rt_abc-123; HttpOnly; Path=/; Max-Age=3600; SameSite=Lax');
    assert.equal(tls.headers.get('set-cookie'), 'refresh_token=rt_abc-123; HttpOnly; Path=/; Max-Age=3600; SameSite=None; Secure');
  });

  it('refresh: the cookie fills an empty body; a body token wins over the cookie', async () => {
    const rsp = await respond('auth.refresh', () => ({ body: pbEncode([[1, 'uid'], [7, 'next']]) }));
    await req(fake.base, 'POST', '/auth/refresh', { headers: { Cookie: 'a=b; refresh_token=from-cookie' } });
    await req(fake.base, 'POST', '/auth/refresh', { json: { refresh_token: 'from-body' }, headers: { Cookie: 'refresh_token=from-cookie' } });
    await req(fake.base, 'POST', '/auth/refresh', { json: {} });
    rsp.stop();
    const toks = rsp.seen.map((m) => pbStr(pbDecode(Buffer.from(m.data)), 1));
    assert.deepEqual(toks, ['from-cookie', 'from-body', undefined]);
  });
});

// ---------------------------------------------------------------- connections
describe('connections', () => {
  it('keep-alive holds: answers (local, proxied, errors) never say Connection: close', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const seq = [
      ['GET', '/healthz'],
      ['POST', '/auth/login', JSON.stringify({ email: 'owner@example.com', password: 'wrong-wrong' })],
      ['GET', '/nope'],
      ['GET', '/auth/me'],
      ['POST', '/auth/register', '{bad json'],
      ['GET', '/healthz'],
    ];
    const out = [];
    for (const [m, p, b] of seq) out.push(await agentRequest(agent, s.url, m, p, b));
    agent.destroy();
    assert.deepEqual(out.map((o) => o.status), [200, 401, 404, 401, 400, 200]);
    for (const o of out) assert.notEqual((o.headers.connection ?? '').toLowerCase(), 'close');
    assert.deepEqual(out.slice(1).map((o) => o.reused), [true, true, true, true, true]);
  });

  it('many slow connections do not block a normal request', async () => {
    const port = new URL(s.url).port;
    const socks = [];
    for (let i = 0; i < 200; i++) {
      const sock = net.connect(port, '127.0.0.1');
      sock.on('error', () => {});
      sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: '); // never finished
      socks.push(sock);
    }
    await sleep(200);
    const r = await s.http('GET', '/healthz');
    const me = await s.http('GET', '/auth/me');
    for (const sock of socks) sock.destroy();
    assert.equal(r.status, 200);
    assert.equal(me.status, 401);
  });
});

// ---------------------------------------------------------------- rate limit
describe('rate limiting', () => {
  it('per client IP token bucket: 429 rate_limited with Retry-After; probes are not limited', async () => {
    const g = await startGateway(s, { RATE_LIMIT_RPS: '1', RATE_LIMIT_BURST: '3' });
    const rs = [];
    for (let i = 0; i < 5; i++) rs.push(await req(g.base, 'GET', '/nope'));
    assert.deepEqual(rs.map((r) => r.status), [404, 404, 404, 429, 429]);
    assert.equal(rs[3].json.error, 'rate_limited');
    assert.ok(Number(rs[3].headers.get('retry-after')) >= 1);
    assert.equal((await req(g.base, 'GET', '/healthz')).status, 200);
    const m = await req(g.base, 'GET', '/metrics');
    assert.match(m.text, /calixio_gateway_rate_limited_total [1-9]/);
    assert.equal(await s.killDaemon('gateway', s.daemons.gateway.indexOf(g.d)), 0);
  });
});

// ---------------------------------------------------------------- metrics + openapi
describe('metrics and openapi', () => {
  it('metrics: requests by route and status, latency histogram, in-flight', async () => {
    await s.http('GET', '/nope');
    const m = await s.http('GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type'), /^text\/plain/);
    const count = (re) => Number((m.text.match(re) ?? [, '0'])[1]);
    assert.ok(count(/calixio_gateway_http_requests_total\{method="POST",route="\/auth\/register",status="201"\} (\d+)/) >= 1);
    assert.ok(count(/calixio_gateway_http_requests_total\{method="",route="unmatched",status="404"\} (\d+)/) >= 1);
    assert.match(m.text, /calixio_gateway_http_request_duration_seconds_bucket\{method="GET",route="\/rooms\/\{id\}",le="\+Inf"\} \d+/);
    assert.match(m.text, /calixio_gateway_http_requests_in_flight \d+/);
    for (const r of ROUTES) {
      const [method, route] = r.split(' ');
      assert.ok(m.text.includes(`method="${method}",route="${route}"`), r);
    }
  });

  it('openapi.json documents exactly the route table, and every documented operation is routed', async () => {
    const doc = (await s.http('GET', '/openapi.json')).json;
    assert.equal(doc.openapi, '3.0.3');
    const ops = [];
    for (const [path, item] of Object.entries(doc.paths)) for (const m of Object.keys(item)) ops.push(`${m.toUpperCase()} ${path}`);
    assert.deepEqual(ops.sort(), [...ROUTES].sort());
    for (const op of ops) {
      const [method, path] = op.split(' ');
      const r = await s.http(method, path.replace('{id}', '00000000-0000-4000-8000-000000000000'));
      assert.notEqual(r.status, 405, op);
      assert.ok(!(r.status === 404 && r.json?.error === 'not_found'), op);
    }
    // schemas follow the HTTP shapes: no refresh_token in the login answer
    assert.equal(doc.components.schemas.LoginReply.properties.refresh_token, undefined);
    assert.equal(doc.paths['/rooms'].get.responses['200'].content['application/json'].schema.type, 'array');
    assert.ok(doc.paths['/auth/logout'].post.responses['204']);
  });
});

// ---------------------------------------------------------------- readiness + drain
describe('readiness and shutdown', () => {
  it('readyz is 503 naming a stopped service, 200 again when it is back', async () => {
    assert.equal(await s.killDaemon('media'), 0);
    let r;
    for (let i = 0; i < 40; i++) {
      r = await s.http('GET', '/readyz');
      if (r.status === 503) break;
      await sleep(100);
    }
    assert.equal(r.status, 503);
    assert.deepEqual(r.json, { status: 'unavailable', not_ready: ['media'] });
    s.startDaemon('media'); // (waitReady would trip over the stopped copy)
    for (let i = 0; i < 150; i++) {
      r = await s.http('GET', '/readyz');
      if (r.status === 200) break;
      await sleep(100);
    }
    assert.deepEqual(r.json, { status: 'ok' });
  });

  it('SIGTERM: stops accepting, finishes the in-flight request, exits 0', async () => {
    const g = await startGateway(s, { CALIXIO_SUBJECT_PREFIX: 'gwtest', GATEWAY_REQUEST_TIMEOUT: '3s', ...s.natsAdminEnv, NATS_PASSWORD_FILE: '' });
    const rsp = await respond('rooms.get', async () => {
      await sleep(500);
      return { body: pbEncode([[1, 'slow-room']]) };
    });
    const inflight = req(g.base, 'GET', '/rooms/00000000-0000-4000-8000-000000000000');
    await sleep(150);
    const code = s.killDaemon('gateway', s.daemons.gateway.indexOf(g.d));
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { id: 'slow-room' });
    assert.equal(await code, 0);
    rsp.stop();
    await assert.rejects(fetch(g.base + '/healthz'));
  });
});

// ---------------------------------------------------------------- NATS outage
// Own stack (gateway only) so the restart tests the gateway, not the services.
describe('NATS outage', () => {
  it('while NATS is down: 503 at once and readyz names nats; after it is back: served again', async () => {
    const o = await startStack({ daemons: ['gateway'], stores: ['nats', 'pg'], env: { GATEWAY_REQUEST_TIMEOUT: '2s' } });
    let onc;
    try {
      await o.storeCtl('stop', 'nats');
      let r;
      for (let i = 0; i < 50; i++) {
        r = await req(o.url, 'GET', '/auth/me');
        if (r.status === 503) break;
        await sleep(100);
      }
      assert.equal(r.status, 503);
      assert.equal(r.json.error, 'unavailable');
      assert.ok(r.ms < 1000, `503 took ${r.ms} ms`);
      let ready;
      for (let i = 0; i < 30; i++) {
        ready = await o.http('GET', '/readyz');
        if (ready.json?.not_ready?.includes('nats')) break;
        await sleep(100);
      }
      assert.deepEqual(ready.json, { status: 'unavailable', not_ready: ['nats'] });
      assert.equal((await o.http('GET', '/healthz')).status, 200);
      await o.storeCtl('start', 'nats');
      // a responder on the restarted server: the gateway must reach it again
      onc = await connect({ servers: o.natsUrl, maxReconnectAttempts: -1, ...o.natsAuth });
      const sub = onc.subscribe('calixio.auth.me');
      (async () => {
        for await (const m of sub) m.respond(pbEncode([[1, 'back']]));
      })();
      await onc.flush();
      for (let i = 0; i < 100; i++) {
        r = await o.http('GET', '/auth/me');
        if (r.status === 200) break;
        await sleep(100);
      }
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { id: 'back' });
    } finally {
      if (onc) await onc.close();
      await o.stop();
    }
  });
});
