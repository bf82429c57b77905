// events.test.mjs: GET /rooms/{id}/events, the live event streams (issue 13
// "Live events", API-ROOMS.md "Live events").
//
// Real SSE clients: Node's fetch stream reader (sse() below) and the
// `eventsource` npm package (what browsers' EventSource behaves like), raw
// sockets for the slow reader and the 1,000 streams. Events come from the
// services (PATCH /rooms/{id} -> room.updated, POST /rooms/{id}/end ->
// room.ended, signed LiveKit webhooks -> participant.joined/left) and, for
// the types whose publishers are not in this tree yet (waiting.*,
// participant.removed), from RoomEvents published on NATS the way a
// service would. JetStream keeps them: resume with Last-Event-ID works on
// a second gateway copy and after a restart; EVENTS_MAX_AGE is short here
// so the reset rule is testable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { readFileSync } from 'node:fs';
import { EventSource } from 'eventsource';
import { TokenVerifier } from 'livekit-server-sdk';
import { startStack, sleep, signJwt, DEFAULT_ENV, freePort } from '../harness/stack.mjs';
import { startFakeLiveKit } from '../harness/fake-livekit.mjs';
import * as lkw from '../harness/livekit-webhook.mjs';

const PING_MS = 400;
const MAX_AGE_MS = 6000;
let s, lk, alice, room;
const clients = []; // every fetch stream, closed in after() whatever failed

// --- helpers -----------------------------------------------------------------

async function user(name) {
  const email = `${name.toLowerCase()}-${randomUUID()}@example.com`;
  const reg = await s.natsRequest('auth.register', { name, email, password: 'correct horse battery' });
  assert.equal(reg.status, 200, reg.text);
  const login = await s.natsRequest('auth.login', { email, password: 'correct horse battery' });
  assert.equal(login.status, 200, login.text);
  return { user_id: login.json.user_id, name, token: login.json.access_token };
}

const bearer = (t) => (t ? { Authorization: `Bearer ${t}` } : {});

function mintRoomToken({ roomId, identity = `id-${randomUUID().slice(0, 8)}`, role = 'participant', name = 'Tester', ttl = 600, waiting = false }) {
  const now = Math.floor(Date.now() / 1000);
  const p = { iss: 'calixio', aud: waiting ? 'calixio-waiting' : 'calixio-room', sub: identity, room: roomId, name, jti: randomUUID(), iat: now, nbf: now, exp: now + ttl };
  if (waiting) p.wid = randomUUID();
  else p.role = role;
  return { token: signJwt({ alg: 'HS256', typ: 'JWT' }, p, DEFAULT_ENV.JWT_SECRET), identity, wid: p.wid };
}

// Protobuf encoding of a calixio.v1.RoomEvent (events.proto), by hand.
function varint(n) {
  const out = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
const fld = (no, v) => {
  const b = Buffer.isBuffer(v) ? v : Buffer.from(String(v));
  return Buffer.concat([varint(no * 8 + 2), varint(b.length), b]);
};
function roomEvent({ type, roomId, participant, room: rm, waitingId, dataJson }) {
  const parts = [fld(1, type), fld(2, roomId)];
  if (rm) parts.push(fld(7, Buffer.concat(Object.entries(rm).map(([k, v]) => fld({ id: 1, name: 2, status: 3, description: 9 }[k], v)))));
  if (participant) parts.push(fld(8, Buffer.concat(Object.entries(participant).map(([k, v]) => fld({ identity: 1, name: 2, role: 3 }[k], v)))));
  if (dataJson) parts.push(fld(40, dataJson));
  if (waitingId) parts.push(fld(41, waitingId));
  return Buffer.concat(parts);
}
async function publishEvent(ev) {
  const nc = await s.nats();
  nc.publish(`${s.prefix}.events.room.${ev.roomId}.${ev.type}`, roomEvent(ev));
  await nc.flush();
}

// A fetch-based SSE client: every frame parsed (events and comments).
async function sse(base, roomId, { token, query = '', headers = {} } = {}) {
  const ac = new AbortController();
  const h = { Accept: 'text/event-stream', ...bearer(token), ...headers };
  const r = await fetch(`${base}/rooms/${roomId}/events${query}`, { headers: h, signal: ac.signal });
  const c = { status: r.status, headers: r.headers, events: [], comments: [], ended: false, text: '' };
  if (r.status !== 200) {
    c.text = await r.text();
    return c;
  }
  let buf = '';
  const dec = new TextDecoder();
  c.done = (async () => {
    try {
      for await (const chunk of r.body) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = {};
          for (const line of frame.split('\n')) {
            if (line.startsWith(':')) c.comments.push({ text: line.slice(1).trim(), at: Date.now() });
            else if (line.startsWith('id: ')) ev.id = line.slice(4);
            else if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
          }
          if (ev.event) c.events.push({ ...ev, at: Date.now() });
        }
      }
    } catch {
      /* aborted */
    }
    c.ended = true;
  })();
  c.close = () => ac.abort();
  clients.push(c);
  c.waitFor = async (pred, ms = 5000) => {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      const e = c.events.find(pred);
      if (e) return e;
      await sleep(10);
    }
    return null;
  };
  c.waitEnded = async (ms = 5000) => {
    const t0 = Date.now();
    while (!c.ended && Date.now() - t0 < ms) await sleep(10);
    return c.ended;
  };
  return c;
}

async function newRoom(json = {}) {
  const r = await s.http('POST', '/rooms', { headers: bearer(alice.token), json: { name: `Live ${randomUUID().slice(0, 6)}`, ...json } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}
const patch = (id, json) => s.http('PATCH', `/rooms/${id}`, { headers: bearer(alice.token), json });

// A second gateway copy on its own port.
async function gatewayCopy(extra = {}) {
  const port = await freePort();
  const d = s.startDaemon('gateway', { HTTP_ADDR: `127.0.0.1:${port}`, ...extra });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) return { d, url };
    } catch {
      /* not yet */
    }
    await sleep(50);
  }
  throw new Error(`gateway copy on ${port} did not start:\n${d.stderr}`);
}

before(async () => {
  lk = await startFakeLiveKit({ apiKey: 'devkey', apiSecret: 'secret' });
  s = await startStack({
    env: {
      LIVEKIT_HOST: lk.url,
      LIVEKIT_TIMEOUT: '1500ms',
      LIVEKIT_MAX_ATTEMPTS: '1',
      EVENTS_PING_INTERVAL: `${PING_MS}ms`,
      EVENTS_MAX_AGE: `${MAX_AGE_MS}ms`,
      GATEWAY_MAX_CONNECTIONS: '3000',
    },
  });
  alice = await user('Alice');
  room = await newRoom();
});

after(async () => {
  for (const c of clients) c.close();
  await s?.stop();
  await lk?.stop();
});

// --- tests -------------------------------------------------------------------

test('room.updated reaches the host (access token) and a participant (room token); ids are stream sequences', async () => {
  const host = await sse(s.url, room.id, { token: alice.token });
  assert.equal(host.status, 200, host.text);
  assert.match(host.headers.get('content-type'), /^text\/event-stream/);
  assert.equal(host.headers.get('cache-control'), 'no-cache');
  const p = mintRoomToken({ roomId: room.id });
  const part = await sse(s.url, room.id, { query: `?token=${p.token}` });
  assert.equal(part.status, 200, part.text);
  await sleep(100);
  assert.equal((await patch(room.id, { name: 'Renamed once' })).status, 200);
  assert.equal((await patch(room.id, { name: 'Renamed twice' })).status, 200);
  for (const c of [host, part]) {
    const e2 = await c.waitFor((e) => e.event === 'room.updated' && e.data.name === 'Renamed twice');
    assert.ok(e2, `room.updated seen: ${JSON.stringify(c.events)}`);
    const e1 = c.events.find((e) => e.data.name === 'Renamed once');
    assert.equal(e1.data.id, room.id);
    assert.ok(/^\d+$/.test(e1.id) && Number(e2.id) > Number(e1.id), `increasing ids ${e1.id} ${e2.id}`);
    assert.ok('code' in e2.data && 'status' in e2.data, 'the data is the Room');
    c.close();
  }
});

test('bad tokens: none 401, another room\'s 403, an access token not the host\'s 403, tampered 401', async () => {
  const bob = await user('Bob');
  const other = mintRoomToken({ roomId: randomUUID() });
  const cases = [
    [{}, 401],
    [{ token: other.token }, 403],
    [{ token: bob.token }, 403],
    [{ token: `${alice.token}x` }, 401],
    [{ query: '?token=not-a-jwt' }, 401],
  ];
  for (const [o, want] of cases) {
    const c = await sse(s.url, room.id, o);
    assert.equal(c.status, want, `${JSON.stringify(o).slice(0, 40)}: ${c.text}`);
  }
});

test('the eventsource package follows a room with ?token= and sees participant.joined/left from signed webhooks within 100 ms of the ack', async () => {
  const r = await newRoom();
  const p = mintRoomToken({ roomId: r.id });
  const es = new EventSource(`${s.url}/rooms/${r.id}/events?token=${p.token}`);
  const got = [];
  const seen = (type) => new Promise((res) => es.addEventListener(type, (m) => { got.push({ type, data: JSON.parse(m.data), id: m.lastEventId, at: performance.now() }); res(); }));
  await new Promise((res, rej) => { es.onopen = res; es.onerror = rej; });
  const joinedSeen = seen('participant.joined');
  const t = Math.floor(Date.now() / 1000);
  let body = lkw.eventBody({ event: 'participant_joined', room: r.livekit_room, identity: 'carol', sid: 'PA_carol', name: 'Carol', joinedAt: t - 1, createdAt: t });
  let w = await lkw.postWebhook(s, body);
  const ackJoin = performance.now();
  assert.equal(w.status, 200, w.text);
  await Promise.race([joinedSeen, sleep(3000)]);
  const leftSeen = seen('participant.left');
  body = lkw.eventBody({ event: 'participant_left', room: r.livekit_room, identity: 'carol', sid: 'PA_carol', name: 'Carol', joinedAt: t - 1, createdAt: t + 1 });
  w = await lkw.postWebhook(s, body);
  const ackLeft = performance.now();
  assert.equal(w.status, 200, w.text);
  await Promise.race([leftSeen, sleep(3000)]);
  es.close();
  const j = got.find((g) => g.type === 'participant.joined');
  const l = got.find((g) => g.type === 'participant.left');
  assert.ok(j && l, JSON.stringify(got));
  assert.deepEqual(Object.keys(j.data).sort(), ['identity', 'joined_at', 'name']);
  assert.equal(j.data.identity, 'carol');
  assert.equal(j.data.name, 'Carol');
  assert.deepEqual(l.data, { identity: 'carol', name: 'Carol' });
  assert.ok(Number(l.id) > Number(j.id));
  const dj = Math.max(0, j.at - ackJoin), dl = Math.max(0, l.at - ackLeft);
  console.log(`LATENCY webhook ack -> SSE client: joined ${dj.toFixed(1)} ms, left ${dl.toFixed(1)} ms (loaded box)`);
  assert.ok(dj < 100 && dl < 100, `within 100 ms of the ack: ${dj.toFixed(1)} / ${dl.toFixed(1)} ms`);
});

test('audiences: waiting.* for host and moderators, a waiting party sees only its own decision', async () => {
  const r = await newRoom();
  const mod = mintRoomToken({ roomId: r.id, role: 'moderator' });
  const part = mintRoomToken({ roomId: r.id, role: 'guest' });
  const w1 = mintRoomToken({ roomId: r.id, waiting: true });
  const w2 = mintRoomToken({ roomId: r.id, waiting: true });
  const c = {
    host: await sse(s.url, r.id, { token: alice.token }),
    mod: await sse(s.url, r.id, { token: mod.token }),
    part: await sse(s.url, r.id, { token: part.token }),
    w1: await sse(s.url, r.id, { token: w1.token }),
    w2: await sse(s.url, r.id, { token: w2.token }),
  };
  for (const [k, v] of Object.entries(c)) assert.equal(v.status, 200, `${k}: ${v.text}`);
  await sleep(100);
  await publishEvent({ type: 'waiting.requested', roomId: r.id, waitingId: w1.wid, dataJson: JSON.stringify({ id: w1.wid, name: 'W1' }) });
  await publishEvent({ type: 'waiting.approved', roomId: r.id, waitingId: w1.wid, dataJson: JSON.stringify({ room_token: 'x', role: 'guest' }) });
  await publishEvent({ type: 'waiting.rejected', roomId: r.id, waitingId: w2.wid, dataJson: JSON.stringify({ id: w2.wid }) });
  await publishEvent({ type: 'participant.role_changed', roomId: r.id, participant: { identity: part.identity, role: 'moderator' } });
  await publishEvent({ type: 'room.created', roomId: r.id }); // not a streamed type
  await publishEvent({ type: 'chat.message', roomId: r.id, dataJson: JSON.stringify({ id: randomUUID(), text: 'hi' }) });
  await Promise.all(Object.values(c).map((x) => x.waitFor((e) => e.event === 'chat.message' || e.event === 'waiting.rejected', 3000)));
  await sleep(300);
  const types = Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v.events.map((e) => e.event)]));
  assert.deepEqual(types.host, ['waiting.requested', 'participant.role_changed', 'chat.message']);
  assert.deepEqual(types.mod, ['waiting.requested', 'participant.role_changed', 'chat.message']);
  assert.deepEqual(types.part, ['participant.role_changed', 'chat.message']);
  assert.deepEqual(types.w1, ['waiting.approved']);
  assert.deepEqual(types.w2, ['waiting.rejected']);
  assert.deepEqual(c.part.events[0].data, { identity: part.identity, role: 'moderator' });
  assert.deepEqual(c.w1.events[0].data, { room_token: 'x', role: 'guest' });
  for (const v of Object.values(c)) v.close();
});

test('a participant promoted while following the stream gets the staff events from then on, and loses them when demoted', async () => {
  const r = await newRoom();
  const part = mintRoomToken({ roomId: r.id, role: 'guest' });
  const other = mintRoomToken({ roomId: r.id, role: 'guest' });
  const c = { part: await sse(s.url, r.id, { token: part.token }), other: await sse(s.url, r.id, { token: other.token }) };
  for (const [k, v] of Object.entries(c)) assert.equal(v.status, 200, `${k}: ${v.text}`);
  await sleep(100);
  const knock = async (name) => {
    const w = mintRoomToken({ roomId: r.id, waiting: true });
    await publishEvent({ type: 'waiting.requested', roomId: r.id, waitingId: w.wid, dataJson: JSON.stringify({ id: w.wid, name }) });
  };
  await knock('before');
  await publishEvent({ type: 'participant.role_changed', roomId: r.id, participant: { identity: part.identity, role: 'moderator' } });
  await knock('promoted');
  await publishEvent({ type: 'participant.role_changed', roomId: r.id, participant: { identity: part.identity, role: 'participant' } });
  await knock('demoted');
  await publishEvent({ type: 'chat.message', roomId: r.id, dataJson: JSON.stringify({ id: randomUUID(), text: 'end' }) });
  await Promise.all(Object.values(c).map((x) => x.waitFor((e) => e.event === 'chat.message', 3000)));
  const seen = (x) => x.events.map((e) => (e.event === 'waiting.requested' ? `knock:${e.data.name}` : e.event));
  assert.deepEqual(seen(c.part), ['participant.role_changed', 'knock:promoted', 'participant.role_changed', 'chat.message']);
  assert.deepEqual(seen(c.other), ['participant.role_changed', 'participant.role_changed', 'chat.message']);
  for (const v of Object.values(c)) v.close();
});

test('room.ended reaches everyone (waiting parties too) and closes every stream after it', async () => {
  const r = await newRoom();
  const part = await sse(s.url, r.id, { token: mintRoomToken({ roomId: r.id }).token });
  const waiter = await sse(s.url, r.id, { token: mintRoomToken({ roomId: r.id, waiting: true }).token });
  const host = await sse(s.url, r.id, { token: alice.token });
  await sleep(100);
  const e = await s.http('POST', `/rooms/${r.id}/end`, { headers: bearer(alice.token), json: {} });
  assert.equal(e.status, 200, e.text);
  for (const c of [part, waiter, host]) {
    assert.ok(await c.waitEnded(5000), 'the stream closed');
    const last = c.events.at(-1);
    assert.equal(last?.event, 'room.ended', JSON.stringify(c.events));
    assert.equal(last.data.status, 'ended');
  }
});

test('LiveKit room_finished (signed webhook) ends the streams with room.ended', async () => {
  const r = await newRoom();
  const c = await sse(s.url, r.id, { token: mintRoomToken({ roomId: r.id }).token });
  await sleep(100);
  const t = Math.floor(Date.now() / 1000);
  const w = await lkw.postWebhook(s, lkw.eventBody({ event: 'room_finished', room: r.livekit_room, createdAt: t }));
  assert.equal(w.status, 200, w.text);
  assert.ok(await c.waitEnded(5000), 'closed');
  assert.equal(c.events.at(-1)?.event, 'room.ended', JSON.stringify(c.events));
  assert.equal(c.events.at(-1).data.id, r.id);
  assert.equal(c.events.at(-1).data.status, 'ended');
});

test('participant.removed naming the caller closes its stream; the others stay open', async () => {
  const r = await newRoom();
  const a = mintRoomToken({ roomId: r.id });
  const b = mintRoomToken({ roomId: r.id });
  const ca = await sse(s.url, r.id, { token: a.token });
  const cb = await sse(s.url, r.id, { token: b.token });
  await sleep(100);
  await publishEvent({ type: 'participant.removed', roomId: r.id, participant: { identity: a.identity } });
  assert.ok(await ca.waitEnded(3000), 'the removed participant\'s stream closed');
  assert.equal(ca.events.at(-1).event, 'participant.removed');
  assert.deepEqual(ca.events.at(-1).data, { identity: a.identity });
  assert.ok(await cb.waitFor((e) => e.event === 'participant.removed'));
  await sleep(300);
  assert.equal(cb.ended, false, 'another participant keeps its stream');
  cb.close();
});

test('pings every EVENTS_PING_INTERVAL; a stream whose token expires is closed', async () => {
  const r = await newRoom();
  const c = await sse(s.url, r.id, { token: mintRoomToken({ roomId: r.id, ttl: 3 }).token });
  const t0 = Date.now();
  assert.ok(await c.waitEnded(8000), 'closed at expiry');
  const dur = Date.now() - t0;
  const pings = c.comments.filter((x) => x.text === 'ping');
  const gaps = pings.slice(1).map((p, i) => p.at - pings[i].at);
  console.log(`PING gaps ${gaps.join(',')} ms (interval ${PING_MS}); closed after ${dur} ms (token ttl ~3 s)`);
  assert.ok(pings.length >= 3, `pings: ${pings.length}`);
  for (const g of gaps) assert.ok(g > PING_MS * 0.5 && g < PING_MS + 400, `ping gap ${g}`);
  assert.ok(dur >= 1500 && dur < 4500, `closed at the token's exp (${dur} ms)`);
});

test('Last-Event-ID: a second gateway copy replays what was missed, in order, then live; after a gateway restart too', async () => {
  const r = await newRoom();
  const p = mintRoomToken({ roomId: r.id });
  const c1 = await sse(s.url, r.id, { token: p.token });
  await sleep(100);
  await patch(r.id, { name: 'A1' });
  const first = await c1.waitFor((e) => e.data?.name === 'A1');
  assert.ok(first);
  c1.close();
  for (const n of ['A2', 'A3', 'A4']) assert.equal((await patch(r.id, { name: n })).status, 200);
  const g2 = await gatewayCopy();
  const c2 = await sse(g2.url, r.id, { token: p.token, headers: { 'Last-Event-ID': first.id } });
  assert.equal(c2.status, 200, c2.text);
  assert.ok(await c2.waitFor((e) => e.data?.name === 'A4'));
  await patch(r.id, { name: 'A5' });
  assert.ok(await c2.waitFor((e) => e.data?.name === 'A5'));
  assert.deepEqual(c2.events.map((e) => e.data.name), ['A2', 'A3', 'A4', 'A5']);
  const ids = c2.events.map((e) => Number(e.id));
  assert.deepEqual([...ids].sort((x, y) => x - y), ids);
  const lastId = c2.events.at(-1).id;
  c2.close();

  // restart that copy (new process, same port): ?last_event_id= replays too
  assert.equal(await s.killDaemon('gateway', s.daemons.gateway.indexOf(g2.d)), 0);
  await patch(r.id, { name: 'A6' });
  const port = new URL(g2.url).port;
  const g3 = s.startDaemon('gateway', { HTTP_ADDR: `127.0.0.1:${port}` });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${g2.url}/healthz`)).status === 200) break;
    } catch { /* starting */ }
    await sleep(50);
  }
  const es = new EventSource(`${g2.url}/rooms/${r.id}/events?token=${p.token}&last_event_id=${lastId}`);
  const names = [];
  await new Promise((res) => {
    es.addEventListener('room.updated', (m) => { names.push(JSON.parse(m.data).name); if (names.length >= 1) res(); });
    setTimeout(res, 4000);
  });
  es.close();
  assert.deepEqual(names, ['A6']);
  await g3.kill();
});

test('an id older than EVENTS_MAX_AGE gets one event: reset, then live events', async () => {
  const r = await newRoom();
  const p = mintRoomToken({ roomId: r.id });
  const c1 = await sse(s.url, r.id, { token: p.token });
  await sleep(100);
  await patch(r.id, { name: 'Old' });
  const old = await c1.waitFor((e) => e.data?.name === 'Old');
  c1.close();
  await sleep(MAX_AGE_MS + 1500);
  // a fresh event keeps the stream non-empty: the old one is gone
  await patch(r.id, { name: 'Fresh' });
  const c2 = await sse(s.url, r.id, { token: p.token, headers: { 'Last-Event-ID': old.id } });
  assert.ok(await c2.waitFor((e) => e.event === 'reset'), JSON.stringify(c2.events));
  assert.equal(c2.events.filter((e) => e.event === 'reset').length, 1);
  assert.equal(c2.events[0].event, 'reset');
  await patch(r.id, { name: 'Live' });
  assert.ok(await c2.waitFor((e) => e.data?.name === 'Live'));
  c2.close();
});

test('a reader that never reads is closed at the queue cap; the gateway\'s memory stays bounded', async () => {
  // (a small ASan quarantine: freed frames must not count as held memory)
  const g = await gatewayCopy({ EVENTS_QUEUE_MAX: '8', GATEWAY_CONNECTION_TIMEOUT: '2s', ASAN_OPTIONS: `${DEFAULT_ENV.ASAN_OPTIONS}:quarantine_size_mb=4` });
  const r = await newRoom();
  const p = mintRoomToken({ roomId: r.id });
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${g.d.proc.pid}/status`, 'utf8'))[1]);
  const sock = tcpConnect(Number(new URL(g.url).port), '127.0.0.1');
  await new Promise((res) => sock.on('connect', res));
  sock.write(`GET /rooms/${r.id}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${p.token}\r\n\r\n`);
  sock.pause(); // never reads
  let closed = false;
  sock.on('close', () => { closed = true; });
  await sleep(300);
  const before = rss();
  const big = 'x'.repeat(60000);
  for (let i = 0; i < 600; i++) await publishEvent({ type: 'room.updated', roomId: r.id, room: { id: r.id, name: `big ${i}`, description: big } });
  await sleep(500);
  const afterRss = rss();
  const t0 = Date.now();
  while (!g.d.stderr.includes('reader too slow') && Date.now() - t0 < 5000) await sleep(50);
  assert.match(g.d.stderr, /reader too slow/);
  // the connection is dropped (MHD's timeout for a socket that takes nothing)
  sock.resume();
  let bytes = 0;
  sock.on('data', (d) => { bytes += d.length; });
  const t1 = Date.now();
  while (!closed && Date.now() - t1 < 8000) await sleep(50);
  assert.ok(closed, 'the slow stream was closed');
  console.log(`SLOW reader: RSS ${before} -> ${afterRss} KiB with 600 x 60 KB events published; ${bytes} bytes reached the reader`);
  assert.ok(bytes < 600 * 60000, 'not every event was kept for it');
  // 36 MB went by; kept for the reader it would be > 30 MiB
  assert.ok(afterRss - before < 24 * 1024, `RSS grew by ${afterRss - before} KiB`);
  await g.d.kill();
});

test('1,000 concurrent streams on one room all get one room.updated', { timeout: 120000 }, async () => {
  const r = await newRoom();
  const p = mintRoomToken({ roomId: r.id });
  const port = Number(new URL(s.url).port);
  const N = 1000;
  const socks = [];
  let got = 0;
  const t0 = Date.now();
  for (let i = 0; i < N; i++) {
    const sock = tcpConnect(port, '127.0.0.1');
    sock.setEncoding('utf8');
    let buf = '', seen = false, ok = false;
    sock.on('data', (d) => {
      buf += d;
      if (!ok && buf.startsWith('HTTP/1.1 200')) ok = true;
      if (!seen && buf.includes('event: room.updated')) { seen = true; got++; }
      if (buf.length > 4096) buf = buf.slice(-2048);
    });
    sock.on('error', () => {});
    sock.write(`GET /rooms/${r.id}/events?token=${p.token} HTTP/1.1\r\nHost: x\r\n\r\n`);
    socks.push(sock);
    if (i % 100 === 99) await sleep(20);
  }
  // every stream open (the hello comment arrived) before the event
  const wait = async (pred, ms) => { const t = Date.now(); while (!pred() && Date.now() - t < ms) await sleep(50); };
  await sleep(500);
  const open = () => socks.filter((x) => x.bytesRead > 0).length;
  await wait(() => open() === N, 30000);
  assert.equal(open(), N, 'every stream answered');
  const opened = Date.now() - t0;
  const tp = Date.now();
  assert.equal((await patch(r.id, { name: 'For a thousand' })).status, 200);
  await wait(() => got === N, 30000);
  const fan = Date.now() - tp;
  console.log(`STREAMS ${N} opened in ${opened} ms; one event reached all in ${fan} ms (loaded box)`);
  assert.equal(got, N);
  for (const x of socks) x.destroy();
});

// The real publishers (rooms' chat and waiting room), not hand-made events.
test('chat.* from POST/PATCH/DELETE /messages and waiting.* from a knock room reach their audiences', async () => {
  const rm = await newRoom({ access: 'open' });
  const j = await s.http('POST', `/rooms/${rm.id}/join`, { json: { user_name: 'Gus' } });
  assert.equal(j.status, 200, j.text);
  const guest = await sse(s.url, rm.id, { token: j.json.room_token });
  assert.equal(guest.status, 200, guest.text);
  await sleep(100);
  const post = await s.http('POST', `/rooms/${rm.id}/messages`, { headers: bearer(alice.token), json: { text: 'hello live' } });
  assert.equal(post.status, 201, post.text);
  const m = await guest.waitFor((e) => e.event === 'chat.message');
  assert.ok(m, `chat.message seen: ${JSON.stringify(guest.events)}`);
  assert.equal(m.data.id, post.json.id);
  assert.equal(m.data.text, 'hello live');
  assert.equal(m.data.sender.role, 'host');
  const ed = await s.http('PATCH', `/rooms/${rm.id}/messages/${post.json.id}`, { headers: bearer(alice.token), json: { text: 'edited live' } });
  assert.equal(ed.status, 200, ed.text);
  const u = await guest.waitFor((e) => e.event === 'chat.message_updated');
  assert.equal(u?.data.text, 'edited live');
  assert.ok(u.data.edited_at);
  const del = await s.http('DELETE', `/rooms/${rm.id}/messages/${post.json.id}`, { headers: bearer(alice.token) });
  assert.equal(del.status, 204, del.text);
  const d = await guest.waitFor((e) => e.event === 'chat.message_deleted');
  assert.deepEqual(d?.data, { id: post.json.id });
  guest.close();

  const knock = await newRoom({ access: 'knock' });
  const host = await sse(s.url, knock.id, { token: alice.token });
  assert.equal(host.status, 200, host.text);
  await sleep(100);
  const w = await s.http('POST', `/rooms/${knock.id}/join`, { json: { user_name: 'Knocker' } });
  assert.equal(w.status, 202, w.text);
  const waiter = await sse(s.url, knock.id, { token: w.json.waiting_token });
  assert.equal(waiter.status, 200, waiter.text);
  const req = await host.waitFor((e) => e.event === 'waiting.requested');
  assert.deepEqual(req?.data, { id: w.json.waiting_id, name: 'Knocker' });
  await sleep(100);
  const ap = await s.http('POST', `/rooms/${knock.id}/waiting/${w.json.waiting_id}/approve`, { headers: bearer(alice.token) });
  assert.equal(ap.status, 200, ap.text);
  const ok = await waiter.waitFor((e) => e.event === 'waiting.approved');
  assert.equal(ok?.data.id, w.json.waiting_id);
  assert.equal(host.events.filter((e) => e.event === 'waiting.approved').length, 0, 'the decision reaches only its waiting party');
  host.close();
  waiter.close();
});

// API-ROOMS.md: waiting.approved carries "the 200 join answer", and only to
// that waiting party; the poll answers the very same answer (one mint).
test('waiting.approved brings the waiting party its join answer (and nobody else a token)', async () => {
  const knock = await newRoom({ access: 'knock' });
  const host = await sse(s.url, knock.id, { token: alice.token });
  assert.equal(host.status, 200, host.text);
  // a moderator and a plain participant listen too (admitted through invites)
  const streams = { host };
  for (const role of ['moderator', 'participant']) {
    const inv = await s.http('POST', `/rooms/${knock.id}/invites`, { headers: bearer(alice.token), json: { role } });
    assert.equal(inv.status, 201, inv.text);
    const j = await s.http('POST', `/rooms/${knock.id}/join`, { json: { user_name: role, invite: inv.json.code } });
    assert.equal(j.status, 200, j.text);
    assert.equal(j.json.role, role);
    streams[role] = await sse(s.url, knock.id, { token: j.json.room_token });
    assert.equal(streams[role].status, 200, streams[role].text);
  }
  const w = await s.http('POST', `/rooms/${knock.id}/join`, { json: { user_name: 'Knocker' } });
  const w2 = await s.http('POST', `/rooms/${knock.id}/join`, { json: { user_name: 'Other' } });
  assert.equal(w.status, 202, w.text);
  assert.equal(w2.status, 202, w2.text);
  const waiter = await sse(s.url, knock.id, { token: w.json.waiting_token });
  const other = await sse(s.url, knock.id, { token: w2.json.waiting_token });
  assert.equal(waiter.status, 200, waiter.text);
  assert.equal(other.status, 200, other.text);
  assert.ok(await host.waitFor((e) => e.event === 'waiting.requested' && e.data.id === w2.json.waiting_id));
  await sleep(100);
  const ap = await s.http('POST', `/rooms/${knock.id}/waiting/${w.json.waiting_id}/approve`, { headers: bearer(alice.token) });
  assert.equal(ap.status, 200, ap.text);
  assert.deepEqual(ap.json, { id: w.json.waiting_id, status: 'approved' }, 'the approver gets no token');
  const ok = await waiter.waitFor((e) => e.event === 'waiting.approved');
  assert.ok(ok, `waiting.approved seen: ${JSON.stringify(waiter.events)}`);
  const a = ok.data;
  assert.equal(a.id, w.json.waiting_id);
  assert.equal(a.status, 'approved');
  assert.equal(a.room_id, knock.id);
  assert.equal(a.role, 'guest');
  assert.equal(a.state?.mode, 'conference');
  assert.ok(a.url, 'livekit url');
  assert.ok(a.expires_in > 0);
  assert.equal(a.livekit_room, knock.livekit_room);
  // the LiveKit token, checked by the official SDK
  const grants = await new TokenVerifier('devkey', 'secret').verify(a.token);
  assert.equal(grants.sub, a.identity);
  assert.equal(grants.video.room, knock.livekit_room);
  assert.equal(grants.video.roomJoin, true);
  assert.ok(!grants.video.roomAdmin);
  await assert.rejects(new TokenVerifier('devkey', 'other').verify(a.token));
  // the room token works inside the room
  const me = await s.http('POST', `/rooms/${knock.id}/messages`, { headers: bearer(a.room_token), json: { text: 'in at last' } });
  assert.equal(me.status, 201, me.text);
  assert.equal(me.json.sender.identity, a.identity);
  // the poll answers the same answer: the event's tokens, not new ones
  const p1 = await s.http('GET', `/rooms/${knock.id}/waiting/${w.json.waiting_id}`, { headers: bearer(w.json.waiting_token) });
  assert.equal(p1.status, 200, p1.text);
  const { id: _wid, ...rest } = a;
  assert.deepEqual(p1.json, rest, 'poll and event carry one answer');
  // nobody else saw a waiting.approved or any token
  await sleep(300);
  for (const [who, c] of Object.entries({ ...streams, other })) {
    assert.equal(c.events.filter((e) => e.event === 'waiting.approved').length, 0, `${who} sees no waiting.approved`);
    assert.ok(!JSON.stringify(c.events).includes(a.token), `${who} never sees the LiveKit token`);
    assert.ok(!JSON.stringify(c.events).includes(a.room_token), `${who} never sees the room token`);
  }
  // a resumed stream of another party does not replay it either
  const replay = await sse(s.url, knock.id, { token: alice.token, headers: { 'Last-Event-ID': host.events[0].id } });
  assert.equal(replay.status, 200, replay.text);
  await sleep(300);
  assert.equal(replay.events.filter((e) => e.event === 'waiting.approved').length, 0);
  // and the waiting party's own resume does
  const again = await sse(s.url, knock.id, { token: w.json.waiting_token, headers: { 'Last-Event-ID': String(Number(ok.id) - 1) } });
  const ok2 = await again.waitFor((e) => e.event === 'waiting.approved');
  assert.equal(ok2?.data.token, a.token);
  for (const c of [...Object.values(streams), waiter, other, replay, again]) c.close();
});
