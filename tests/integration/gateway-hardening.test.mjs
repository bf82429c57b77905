// gateway-hardening.test.mjs: the gateway items of issue 19.
//   1. an Authorization header that is present but unusable (over the size
//      cap, control bytes) is 401 invalid_token / invalid_auth, never "no
//      header": join is not a silent guest, required routes do not say
//      missing_auth;
//  11. SIGTERM with requests still suspended on NATS when the drain limit
//      hits: they are answered, nothing is freed while linked, exit 0 (ASan
//      build: a use-after-free or libmicrohttpd's abort fails stop());
//  17. the per-IP rate limit holds across three gateway copies (within 10 %);
//  18. a GET or a join without a reply after GATEWAY_RETRY_AFTER is sent once
//      more (and answered by whoever replies); other requests are sent once.
// Stalled or selective services are JS responders on NATS under a private
// subject prefix, so only the gateway under test talks to them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import { startStack, freePort, sleep } from '../harness/stack.mjs';

let s;
let nc;
let user; // {token}
let roomId;

// protobuf: a string field only (enough for RoomRef / Room / JoinReply ids)
function pbString(num, str) {
  const b = Buffer.from(str);
  return Buffer.concat([Buffer.from([(num << 3) | 2, b.length]), b]);
}

// (a gateway on a test prefix logs in as the operator user: the gateway's own
// NATS user may publish only calixio.<route subjects>, as the table says)
async function startGateway(env) {
  const port = await freePort();
  const d = s.startDaemon('gateway', { HTTP_ADDR: `127.0.0.1:${port}`, ...env });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (d.exit) throw new Error(`gateway exited: ${d.stderr}`);
    try {
      if ((await fetch(base + '/healthz')).status === 200) return { base, port, d, idx: s.daemons.gateway.indexOf(d) };
    } catch {
      /* not yet */
    }
    await sleep(50);
  }
  throw new Error('extra gateway did not start');
}

async function req(base, method, path, { json, headers = {} } = {}) {
  const h = { ...headers };
  let body;
  if (json !== undefined) {
    body = JSON.stringify(json);
    h['Content-Type'] = 'application/json';
  }
  const t0 = Date.now();
  const r = await fetch(base + path, { method, headers: h, body });
  const text = await r.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: r.status, json: parsed, text, ms: Date.now() - t0 };
}

// One raw HTTP/1.1 request (any header bytes); resolves with {status, json}.
function rawRequest(port, head, body = '') {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    sock.on('data', (d) => {
      data = Buffer.concat([data, d]);
      const text = data.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number((text.match(/\r\ncontent-length: *(\d+)/i) ?? [, '0'])[1]);
      if (data.length >= end + 4 + len) {
        sock.destroy();
        const b = text.slice(end + 4, end + 4 + len);
        let json = null;
        try {
          json = JSON.parse(b);
        } catch {
          /* not JSON */
        }
        resolve({ status: Number(text.slice(9, 12)), json, text });
      }
    });
    sock.on('error', reject);
    sock.on('close', () => resolve({ status: 0, json: null, text: data.toString('latin1') }));
    sock.write(Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]));
  });
}

// A NATS responder: handler(msg) -> Buffer to answer, or null to stay silent.
async function respond(subject, handler) {
  const sub = nc.subscribe(subject);
  const seen = [];
  (async () => {
    for await (const m of sub) {
      seen.push({ reply: m.reply, rid: m.headers?.get('Calixio-Request-Id'), at: Date.now() });
      const a = await handler(m, seen);
      if (a) m.respond(a);
    }
  })();
  await nc.flush();
  return { seen, stop: () => sub.unsubscribe() };
}

before(async () => {
  s = await startStack({ daemons: ['auth', 'rooms', 'media', 'gateway'] });
  nc = await connect({ servers: s.natsUrl, ...s.natsAuth });
  const email = `hard-${randomUUID()}@example.com`;
  let r = await s.http('POST', '/auth/register', { json: { name: 'Hard Ening', email, password: 'correct horse battery' } });
  assert.equal(r.status, 201, r.text);
  r = await s.http('POST', '/auth/login', { json: { email, password: 'correct horse battery' } });
  assert.equal(r.status, 200, r.text);
  user = { token: r.json.access_token };
  r = await s.http('POST', '/rooms', { json: { name: 'Hardening room' }, headers: { Authorization: `Bearer ${user.token}` } });
  assert.equal(r.status, 201, r.text);
  roomId = r.json.id;
});

after(async () => {
  if (nc) await nc.close();
  await s?.stop();
});

// ------------------------------------------------------------------ item 1
test('an unusable Authorization header (9 KB, control bytes) is 401 on join and on required routes, never a guest or missing_auth', async () => {
  const port = new URL(s.url).port;
  const join = `/rooms/${roomId}/join`;
  // control: a good token works, no header is a guest, a short bad token is 401
  let r = await s.http('POST', join, { json: {}, headers: { Authorization: `Bearer ${user.token}` } });
  assert.equal(r.status, 200, r.text);
  assert.doesNotMatch(r.json.identity, /^guest-/);
  r = await s.http('POST', join, { json: {} });
  assert.equal(r.status, 200, r.text);
  assert.match(r.json.identity, /^guest-/);
  r = await s.http('GET', '/auth/me');
  assert.equal(r.json.error, 'missing_auth');

  const big = `Bearer ${'A'.repeat(9 * 1024)}`;
  const bigNoBearer = 'B'.repeat(9 * 1024);
  for (const [path, method, json] of [[join, 'POST', {}], ['/auth/me', 'GET'], [`/rooms/${roomId}`, 'GET'], ['/rooms', 'POST', { name: 'never' }]]) {
    r = await s.http(method, path, { json, headers: { Authorization: big } });
    assert.equal(r.status, 401, `${method} ${path} with a 9 KB bearer: ${r.status} ${r.text}`);
    assert.equal(r.json.error, 'invalid_token', `${method} ${path}`);
    r = await s.http(method, path, { json, headers: { Authorization: bigNoBearer } });
    assert.equal(r.status, 401, `${method} ${path} with a 9 KB non-bearer: ${r.status}`);
    assert.equal(r.json.error, 'invalid_auth', `${method} ${path}`);
  }
  // control bytes (fetch refuses to send them: raw socket)
  for (const ctl of ['\x01', '\x7f', '\x1b[31m']) {
    const auth = `Bearer ${user.token.slice(0, 20)}${ctl}${user.token.slice(20)}`;
    const body = '{}';
    r = await rawRequest(port, `POST ${join} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, body);
    assert.equal(r.status, 401, `join with ${JSON.stringify(ctl)} in the bearer: ${r.text.slice(0, 300)}`);
    assert.equal(r.json.error, 'invalid_token');
    r = await rawRequest(port, `GET /auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 401);
    assert.equal(r.json.error, 'invalid_token', `me with ${JSON.stringify(ctl)}: ${r.text.slice(0, 300)}`);
  }
  // nothing was created with the unusable headers
  const rows = await s.psql(`SELECT count(*) FROM rooms WHERE name = 'never'`);
  assert.equal(rows[0][0], '0');
});

// ------------------------------------------------------------------ item 18
test('GET and join without a reply after GATEWAY_RETRY_AFTER are sent once more; a create is sent once', { timeout: 60000 }, async () => {
  const g = await startGateway({ CALIXIO_SUBJECT_PREFIX: 'gwr', ...s.natsAdminEnv, NATS_PASSWORD_FILE: '', GATEWAY_REQUEST_TIMEOUT: '3s', GATEWAY_RETRY_AFTER: '300ms' });
  // answers only the second delivery of each request (the first went to a "dead copy")
  const second = (answer) => (m, seen) => (seen.filter((x) => x.rid === m.headers?.get('Calixio-Request-Id')).length >= 2 ? answer : null);
  const get = await respond('gwr.rooms.get', second(pbString(1, 'retried-room')));
  const join = await respond('gwr.media.join', second(pbString(1, 'retried-join')));
  const create = await respond('gwr.rooms.create', second(pbString(1, 'created-twice')));
  const id = '00000000-0000-4000-8000-000000000018';
  try {
    const a = await req(g.base, 'GET', `/rooms/${id}`, { headers: { 'X-Request-Id': 'retry-get-1' } });
    assert.equal(a.status, 200, `GET answered by the repeat: ${a.status} ${a.text}`);
    assert.deepEqual(a.json, { id: 'retried-room' });
    assert.ok(a.ms >= 250 && a.ms < 2500, `GET took ${a.ms} ms (retry after 300 ms, timeout 3 s)`);
    const gs = get.seen.filter((x) => x.rid === 'retry-get-1');
    assert.equal(gs.length, 2, 'the GET was delivered twice');
    assert.equal(gs[0].reply, gs[1].reply, 'the repeat uses the same reply subject');
    assert.ok(gs[1].at - gs[0].at >= 250, `the repeat came ${gs[1].at - gs[0].at} ms after the first`);

    const j = await req(g.base, 'POST', `/rooms/${id}/join`, { json: {}, headers: { 'X-Request-Id': 'retry-join-1' } });
    assert.equal(j.status, 200, `join answered by the repeat: ${j.status} ${j.text}`);
    assert.equal(join.seen.filter((x) => x.rid === 'retry-join-1').length, 2);

    // not safe to repeat: one delivery, 504 after the full timeout
    const c = await req(g.base, 'POST', '/rooms', { json: { name: 'once' }, headers: { 'X-Request-Id': 'retry-create-1' } });
    assert.equal(c.status, 504, c.text);
    assert.ok(c.ms >= 2800, `create timed out after ${c.ms} ms`);
    assert.equal(create.seen.filter((x) => x.rid === 'retry-create-1').length, 1, 'a create is never repeated');

    // a prompt reply is not repeated
    const fast = await respond('gwr.rooms.participants', () => Buffer.alloc(0));
    const p = await req(g.base, 'GET', `/rooms/${id}/participants`, { headers: { 'X-Request-Id': 'retry-none-1' } });
    assert.equal(p.status, 200, p.text);
    await sleep(600);
    assert.equal(fast.seen.length, 1, 'answered at once: sent once');
    fast.stop();

    const m = await req(g.base, 'GET', '/metrics');
    assert.match(m.text, /calixio_gateway_nats_retries_total 2\n/);
  } finally {
    get.stop();
    join.stop();
    create.stop();
  }
  assert.equal(await s.killDaemon('gateway', g.idx), 0);
});

// ------------------------------------------------------------------ item 11
test('SIGTERM with requests still suspended on NATS when the drain limit hits: answered, exit 0, no sanitizer report', { timeout: 60000 }, async () => {
  // request timeout 2 s -> drain limit max(2 s, 4 readiness pings of 0.5 s) + 2 s = 4 s
  const g = await startGateway({ CALIXIO_SUBJECT_PREFIX: 'gwd', ...s.natsAdminEnv, NATS_PASSWORD_FILE: '', GATEWAY_REQUEST_TIMEOUT: '2s', GATEWAY_RETRY_AFTER: '0s' });
  const stalled = await respond('gwd.rooms.get', () => null); // never answers
  // keep-alive connections opened before the signal; requests sent on them later
  const conns = [];
  for (let i = 0; i < 4; i++) {
    const sock = net.connect(g.port, '127.0.0.1');
    const c = { sock, data: '', closed: false };
    sock.on('data', (d) => (c.data += d.toString('latin1')));
    sock.on('close', () => (c.closed = true));
    sock.on('error', () => {});
    sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    conns.push(c);
  }
  // a client still uploading keeps the drain waiting until its limit
  const up = net.connect(g.port, '127.0.0.1');
  up.on('error', () => {});
  up.write('POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{');
  const trickle = setInterval(() => up.write(' '), 250);
  await sleep(300);
  for (const c of conns) assert.match(c.data, /^HTTP\/1\.1 200/, 'keep-alive connection ready');
  for (const c of conns) c.data = '';
  const exited = s.killDaemon('gateway', g.idx);
  const t0 = Date.now();
  // sent late: their 2 s deadline lies beyond the 4 s drain limit
  const at = [2400, 2800, 3200, 3600];
  for (let i = 0; i < conns.length; i++) {
    await sleep(Math.max(0, t0 + at[i] - Date.now()));
    conns[i].sock.write(`GET /rooms/00000000-0000-4000-8000-00000000001${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
  }
  const code = await exited;
  clearInterval(trickle);
  up.destroy();
  stalled.stop();
  const log = s.logs('gateway', g.idx);
  assert.doesNotMatch(log, /AddressSanitizer|LeakSanitizer|runtime error|suspended connections/);
  assert.equal(code, 0, `gateway exit ${code}:\n${log.split('\n').slice(-30).join('\n')}`);
  assert.ok(stalled.seen.length >= 2, `the late requests reached NATS (${stalled.seen.length})`);
  for (const [i, c] of conns.entries()) {
    c.sock.destroy();
    // answered (503 shutting down / 504) or closed, never left hanging
    if (c.data) assert.match(c.data, /^HTTP\/1\.1 50[34]/, `late request ${i}: ${c.data.slice(0, 200)}`);
  }
  assert.ok(conns.some((c) => /^HTTP\/1\.1 503/.test(c.data) && /shutting down/.test(c.data)),
    `a request cut by the shutdown is told so: ${conns.map((c) => c.data.slice(0, 40)).join(' | ')}`);
});

// ------------------------------------------------------------------ item 17
test('the per-IP rate limit holds across three gateway copies (within 10 %)', { timeout: 60000 }, async () => {
  const RPS = 20, BURST = 20, SECS = 5, OFFERED = 150; // requests per second, all copies together
  const env = { RATE_LIMIT_RPS: String(RPS), RATE_LIMIT_BURST: String(BURST) };
  const gs = [await startGateway(env), await startGateway(env), await startGateway(env)];
  await sleep(300); // every copy subscribed to the others' reports
  const n = SECS * OFFERED;
  const t0 = Date.now();
  const pending = [];
  for (let i = 0; i < n; i++) {
    await sleep(Math.max(0, t0 + (i * 1000) / OFFERED - Date.now()));
    const g = gs[i % gs.length];
    pending.push(fetch(g.base + '/nope').then(async (r) => {
      await r.arrayBuffer();
      return { g: i % gs.length, status: r.status };
    }));
  }
  const res = await Promise.all(pending);
  const secs = (Date.now() - t0) / 1000;
  const allowed = res.filter((r) => r.status === 404).length;
  const limited = res.filter((r) => r.status === 429).length;
  const perCopy = [0, 1, 2].map((k) => res.filter((r) => r.g === k && r.status === 404).length);
  const expected = BURST + RPS * secs;
  console.log(`RATELIMIT 3 copies, ${RPS}/s burst ${BURST}, ${n} requests in ${secs.toFixed(2)} s: ${allowed} allowed (per copy ${perCopy.join(', ')}), ${limited} limited; one limit allows ${expected.toFixed(0)}`);
  assert.equal(allowed + limited, n, 'every answer is 404 (allowed) or 429');
  assert.ok(Math.abs(allowed - expected) <= 0.1 * expected, `${allowed} allowed, expected ${expected.toFixed(0)} +- 10 %`);
  for (const k of [0, 1, 2]) assert.ok(perCopy[k] > 0, `copy ${k} allowed some`);
  for (const g of gs) assert.equal(await s.killDaemon('gateway', g.idx), 0);
});
