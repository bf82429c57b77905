// webhook.test.mjs: the webhook daemon (issue 5) against a real stack.
//
// Webhooks are built and signed as livekit-server does (see
// harness/livekit-webhook.mjs), delivered through the gateway
// (POST /livekit/webhook) when it is built, else straight on NATS
// (webhook.livekit, as the gateway forwards them), and the result is read
// back from Redis, Postgres and NATS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { startStack, buildDir, mintAccessToken, sleep } from '../harness/stack.mjs';
import * as lk from '../harness/livekit-webhook.mjs';

const built = (n) => existsSync(join(buildDir, `cx-${n}`));
const HAVE_HTTP = built('gateway') && built('rooms');
const daemons = ['webhook', ...['rooms', 'media', 'gateway'].filter(built)];
const HAVE_MEDIA = built('media') && built('rooms');

let s;
let nc;
const published = []; // {subject, ev}
const now = () => Math.floor(Date.now() / 1000);

// Minimal protobuf decoder for calixio.v1.LiveKitEvent (strings + one int64).
function decodeLiveKitEvent(buf) {
  const names = { 1: 'id', 2: 'event', 3: 'created_at', 4: 'livekit_room', 5: 'room_id', 6: 'identity', 7: 'participant_sid', 8: 'name', 9: 'track_sid' };
  const out = {};
  let i = 0;
  const varint = () => {
    let v = 0n, shift = 0n;
    for (;;) {
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const f = key >> 3, wt = key & 7;
    if (wt === 0) out[names[f] ?? f] = Number(varint());
    else if (wt === 2) {
      const n = Number(varint());
      out[names[f] ?? f] = Buffer.from(buf.subarray(i, i + n)).toString('utf8');
      i += n;
    } else throw new Error(`unexpected wire type ${wt}`);
  }
  return out;
}

// Delivers body (signed Go-style unless opts.auth) via the gateway when it
// is there, else on NATS. Returns {status, json}.
async function deliver(body, opts = {}) {
  return HAVE_HTTP ? lk.postWebhook(s, body, opts) : lk.natsWebhook(s, body, opts);
}

// A Calixio room: created through the rooms daemon when it is built, else
// inserted the way rooms would. Returns {id, livekit_room}.
async function createRoom(status) {
  if (HAVE_HTTP) {
    const token = mintAccessToken({ sub: randomUUID() });
    const r = await s.http('POST', '/rooms', { json: { name: 'Webhook room' }, headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 201, r.text);
    if (status) await s.psql(`UPDATE rooms SET status = '${status}' WHERE id = '${r.json.id}'`);
    return { id: r.json.id, livekit_room: r.json.livekit_room };
  }
  const lkRoom = `cx-${randomUUID()}`;
  const [[id]] = await s.psql(`INSERT INTO rooms (name, owner_user_id, max_participants, empty_timeout, livekit_room, status)
    VALUES ('Webhook room', gen_random_uuid(), 10, 300, '${lkRoom}', '${status ?? 'active'}') RETURNING id`);
  return { id, livekit_room: lkRoom };
}

async function presence(room) {
  const out = await s.redis('HGETALL', `cx:presence:{${room}}`);
  const lines = out ? out.split('\n') : [];
  const m = {};
  for (let i = 0; i + 1 < lines.length; i += 2) m[lines[i]] = JSON.parse(lines[i + 1]);
  return m;
}

async function history(room) {
  return s.psql(`SELECT event_id, event, identity, participant_sid, name, coalesce(room_id::text, ''),
    extract(epoch from occurred_at)::bigint FROM participant_events WHERE livekit_room = '${room}' ORDER BY occurred_at, received_at`);
}

async function trackCount(room, identity) {
  return s.redis('HGET', `cx:tracks:{${room}}`, identity);
}

async function waitPublished(pred, ms = 3000) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const m = published.find(pred);
    if (m) return m;
    await sleep(20);
  }
  return null;
}

function joined(room, identity, sid, t, extra = {}) {
  return lk.eventBody({ event: 'participant_joined', room, identity, sid, name: `${identity} name`, joinedAt: t - 2, createdAt: t, ...extra });
}
function left(room, identity, sid, t, extra = {}) {
  return lk.eventBody({ event: 'participant_left', room, identity, sid, name: `${identity} name`, joinedAt: t - 30, createdAt: t, ...extra });
}

before(async () => {
  // media's room cache at its longest (1 s): only a room event can explain a
  // refusal sooner than that after an end
  s = await startStack({ daemons, env: { WEBHOOK_LEEWAY: '30s', MEDIA_ROOM_CACHE_TTL: '1s' } });
  nc = await connect({ servers: s.natsUrl, ...s.natsAuth });
  const sub = nc.subscribe(`${s.prefix}.events.room.>`);
  (async () => {
    for await (const m of sub) published.push({ subject: m.subject, ev: decodeLiveKitEvent(m.data) });
  })();
  await nc.flush();
});

after(async () => {
  await nc?.close();
  await s?.stop();
});

test('test signer matches the official SDK receiver (Go-style and SDK-style tokens)', async () => {
  const body = joined('demo-room', 'alice', 'PA_x', now());
  const ev1 = await lk.sdkReceive(body, lk.signGo(body));
  assert.equal(ev1.event, 'participant_joined');
  assert.equal(ev1.participant.identity, 'alice');
  const ev2 = await lk.sdkReceive(body, await lk.signSdk(body));
  assert.equal(ev2.room.name, 'demo-room');
  // and the SDK rejects what the daemon must reject
  await assert.rejects(lk.sdkReceive(Buffer.concat([body, Buffer.from('\n')]), lk.signGo(body)));
  await assert.rejects(lk.sdkReceive(body, lk.signGo(body, { secret: 'other' })));
});

test('participant_joined: presence in Redis, history row, NATS event (SDK-signed token too)', async () => {
  const room = await createRoom();
  const t = now();
  const body = joined(room.livekit_room, 'alice', 'PA_alice1', t);
  const r = await deliver(body, { auth: await lk.signSdk(body) });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { status: 'ok' });

  const p = await presence(room.livekit_room);
  assert.deepEqual(p.alice, { identity: 'alice', name: 'alice name', sid: 'PA_alice1', joined_at: t - 2, kind: 'standard', ts: t });
  const ttl = Number(await s.redis('TTL', `cx:presence:{${room.livekit_room}}`));
  assert.ok(ttl > 6 * 3600 - 60 && ttl <= 6 * 3600, `presence TTL ${ttl}`);
  assert.equal(await s.redis('HGET', `cx:presence-ts:{${room.livekit_room}}`, 'alice'), String(t));

  const h = await history(room.livekit_room);
  assert.equal(h.length, 1);
  const id = JSON.parse(body).id;
  assert.deepEqual(h[0], [id, 'participant_joined', 'alice', 'PA_alice1', 'alice name', room.id, String(t)]);

  const m = await waitPublished((x) => x.ev.id === id);
  assert.ok(m, 'LiveKitEvent published');
  assert.equal(m.subject, `${s.prefix}.events.room.${room.livekit_room}.participant_joined`);
  assert.deepEqual(m.ev, { id, event: 'participant_joined', created_at: t, livekit_room: room.livekit_room, room_id: room.id, identity: 'alice', participant_sid: 'PA_alice1', name: 'alice name' });
  assert.equal(await s.redis('GET', `cx:webhook:event:{${room.livekit_room}}:${id}`), 'done');
});

test('spaced and snake_case bodies (int64 as numbers) are accepted; raw bytes are hashed', async () => {
  const room = await createRoom();
  const t = now();
  const spaced = lk.eventBody({ event: 'participant_joined', room: room.livekit_room, identity: 'sp', sid: 'PA_sp', name: 'Sp', joinedAt: t, createdAt: t }, { spaced: true });
  assert.match(spaced.toString(), /", "/);
  assert.equal((await deliver(spaced)).status, 200);
  const snake = Buffer.from(JSON.stringify({ event: 'participant_joined', room: { name: room.livekit_room }, participant: { sid: 'PA_sn', identity: 'sn', name: 'Sn', joined_at: t - 5, kind: 0 }, id: lk.lkId('EV_'), created_at: t }));
  assert.equal((await deliver(snake)).status, 200);
  const p = await presence(room.livekit_room);
  assert.equal(p.sp.sid, 'PA_sp');
  assert.equal(p.sn.joined_at, t - 5);
  assert.equal(p.sn.kind, 'standard');
});

test('duplicate delivery: 200, nothing changes twice, published once', async () => {
  const room = await createRoom();
  const t = now();
  const j = joined(room.livekit_room, 'bob', 'PA_bob', t);
  const auth = lk.signGo(j);
  assert.equal((await deliver(j, { auth })).status, 200);
  const tp = lk.eventBody({ event: 'track_published', room: room.livekit_room, identity: 'bob', sid: 'PA_bob', trackSid: 'TR_bob1', trackType: 'VIDEO', createdAt: t });
  const tpAuth = lk.signGo(tp);
  for (let i = 0; i < 3; i++) {
    const r = await deliver(tp, { auth: tpAuth });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'ok' });
  }
  assert.equal(await trackCount(room.livekit_room, 'bob'), '1');
  // a duplicate of the join after the participant left must not resurrect them
  assert.equal((await deliver(left(room.livekit_room, 'bob', 'PA_bob', t + 1))).status, 200);
  assert.equal((await deliver(j, { auth })).status, 200);
  assert.equal((await presence(room.livekit_room)).bob, undefined);
  const h = await history(room.livekit_room);
  assert.deepEqual(h.map((r) => r[1]), ['participant_joined', 'participant_left']);
  await sleep(200);
  const tpId = JSON.parse(tp).id;
  assert.equal(published.filter((x) => x.ev.id === tpId).length, 1);
});

test('a delivery while another copy is processing the same id is 503 (retried later)', async () => {
  const room = await createRoom();
  const body = joined(room.livekit_room, 'busy', 'PA_busy', now());
  const id = JSON.parse(body).id;
  await s.redis('SET', `cx:webhook:event:{${room.livekit_room}}:${id}`, 'pending', 'EX', '30');
  const r = await deliver(body);
  assert.equal(r.status, 503, r.text);
  assert.equal((await presence(room.livekit_room)).busy, undefined);
  assert.equal(await s.redis('GET', `cx:webhook:event:{${room.livekit_room}}:${id}`), 'pending', 'the other claim is left alone');
  await s.redis('DEL', `cx:webhook:event:{${room.livekit_room}}:${id}`); // the other copy died; its claim lapsed
  assert.equal((await deliver(body)).status, 200);
  assert.ok((await presence(room.livekit_room)).busy);
  const ttl = Number(await s.redis('TTL', `cx:webhook:event:{${room.livekit_room}}:${id}`));
  assert.ok(ttl > 86400 - 60 && ttl <= 86400, `dedup TTL ${ttl}`);
});

test('track_published / track_unpublished keep per-participant counts, never below 0', async () => {
  const room = await createRoom();
  const t = now();
  const ev = (event, trackSid, dt = 0) => lk.eventBody({ event, room: room.livekit_room, identity: 'carol', sid: 'PA_c', trackSid, createdAt: t + dt });
  assert.equal((await deliver(joined(room.livekit_room, 'carol', 'PA_c', t))).status, 200);
  assert.equal((await deliver(ev('track_published', 'TR_a'))).status, 200);
  assert.equal((await deliver(ev('track_published', 'TR_b'))).status, 200);
  assert.equal(await trackCount(room.livekit_room, 'carol'), '2');
  assert.equal((await deliver(ev('track_unpublished', 'TR_a', 1))).status, 200);
  assert.equal(await trackCount(room.livekit_room, 'carol'), '1');
  // unpublishing a track never published, or the same one again (new event id)
  assert.equal((await deliver(ev('track_unpublished', 'TR_zzz', 1))).status, 200);
  assert.equal((await deliver(ev('track_unpublished', 'TR_a', 2))).status, 200);
  assert.equal(await trackCount(room.livekit_room, 'carol'), '1');
  assert.equal((await deliver(ev('track_unpublished', 'TR_b', 2))).status, 200);
  assert.equal(await trackCount(room.livekit_room, 'carol'), '');
  assert.equal((await deliver(ev('track_unpublished', 'TR_b', 3))).status, 200);
  assert.equal(await trackCount(room.livekit_room, 'carol'), '');
  // an older publish arriving after the unpublish does not count
  assert.equal((await deliver(ev('track_published', 'TR_b', -5))).status, 200);
  assert.equal(await trackCount(room.livekit_room, 'carol'), '');
  const m = await waitPublished((x) => x.subject.endsWith(`${room.livekit_room}.track_published`));
  assert.equal(m.ev.track_sid, 'TR_a');
});

test('participant_left removes presence and appends history', async () => {
  const room = await createRoom();
  const t = now();
  assert.equal((await deliver(joined(room.livekit_room, 'dave', 'PA_d', t))).status, 200);
  assert.equal((await deliver(joined(room.livekit_room, 'erin', 'PA_e', t))).status, 200);
  assert.deepEqual(Object.keys(await presence(room.livekit_room)).sort(), ['dave', 'erin']);
  assert.equal((await deliver(left(room.livekit_room, 'dave', 'PA_d', t + 5))).status, 200);
  assert.deepEqual(Object.keys(await presence(room.livekit_room)), ['erin']);
  const h = await history(room.livekit_room);
  assert.deepEqual(h.map((r) => [r[1], r[2], r[6]]), [
    ['participant_joined', 'dave', String(t)],
    ['participant_joined', 'erin', String(t)],
    ['participant_left', 'dave', String(t + 5)],
  ]);
});

test('out of order: a left with a newer createdAt wins over an older joined delivered later', async () => {
  const room = await createRoom();
  const t = now();
  assert.equal((await deliver(left(room.livekit_room, 'frank', 'PA_f', t))).status, 200);
  assert.equal((await deliver(joined(room.livekit_room, 'frank', 'PA_f', t - 10))).status, 200);
  assert.equal((await presence(room.livekit_room)).frank, undefined);
  assert.equal(await s.redis('HGET', `cx:presence-ts:{${room.livekit_room}}`, 'frank'), String(t));
  // both are history, in event time order
  assert.deepEqual((await history(room.livekit_room)).map((r) => r[1]), ['participant_joined', 'participant_left']);
  // a newer join does apply
  assert.equal((await deliver(joined(room.livekit_room, 'frank', 'PA_f2', t + 3))).status, 200);
  assert.equal((await presence(room.livekit_room)).frank.sid, 'PA_f2');
  // the late left of the older session does not remove the new one
  assert.equal((await deliver(left(room.livekit_room, 'frank', 'PA_f', t + 4))).status, 200);
  assert.equal((await presence(room.livekit_room)).frank.sid, 'PA_f2');
});

test('egress recorders are not listed as people', async () => {
  const room = await createRoom();
  const t = now();
  assert.equal((await deliver(joined(room.livekit_room, 'EG_abc123', 'PA_eg1', t))).status, 200);
  assert.equal((await deliver(joined(room.livekit_room, 'recorder', 'PA_eg2', t, { kind: 'EGRESS' }))).status, 200);
  assert.equal((await deliver(joined(room.livekit_room, 'gina', 'PA_g', t))).status, 200);
  assert.deepEqual(Object.keys(await presence(room.livekit_room)), ['gina']);
  assert.deepEqual((await history(room.livekit_room)).map((r) => r[2]), ['gina']);
});

test('room_started activates a pending room; room_finished ends it and clears presence', async () => {
  const room = await createRoom('pending');
  const t = now();
  assert.equal((await deliver(lk.eventBody({ event: 'room_started', room: room.livekit_room, createdAt: t }))).status, 200);
  assert.deepEqual(await s.psql(`SELECT status FROM rooms WHERE id = '${room.id}'`), [['active']]);
  assert.equal((await deliver(joined(room.livekit_room, 'hank', 'PA_h', t + 1))).status, 200);
  assert.equal((await deliver(lk.eventBody({ event: 'track_published', room: room.livekit_room, identity: 'hank', sid: 'PA_h', trackSid: 'TR_h', createdAt: t + 1 }))).status, 200);
  assert.ok((await presence(room.livekit_room)).hank);

  const fin = lk.eventBody({ event: 'room_finished', room: room.livekit_room, createdAt: t + 10 });
  assert.equal((await deliver(fin)).status, 200);
  assert.deepEqual(await s.psql(`SELECT status, extract(epoch from ended_at)::bigint FROM rooms WHERE id = '${room.id}'`), [['ended', String(t + 10)]]);
  for (const k of ['presence', 'presence-ts', 'tracks', 'track-ts']) assert.equal(await s.redis('EXISTS', `cx:${k}:{${room.livekit_room}}`), '0', k);
  const m = await waitPublished((x) => x.ev.id === JSON.parse(fin).id);
  assert.equal(m.subject, `${s.prefix}.events.room.${room.livekit_room}.room_finished`);
  assert.equal(m.ev.room_id, room.id);

  // late events older than the finish change nothing; a late room_started does not reopen
  assert.equal((await deliver(joined(room.livekit_room, 'ivy', 'PA_i', t + 5))).status, 200);
  assert.equal((await deliver(lk.eventBody({ event: 'room_started', room: room.livekit_room, createdAt: t }))).status, 200);
  assert.deepEqual(await presence(room.livekit_room), {});
  assert.deepEqual(await s.psql(`SELECT status FROM rooms WHERE id = '${room.id}'`), [['ended']]);
  // a second room_finished keeps the first end time
  assert.equal((await deliver(lk.eventBody({ event: 'room_finished', room: room.livekit_room, createdAt: t + 20 }))).status, 200);
  assert.deepEqual(await s.psql(`SELECT extract(epoch from ended_at)::bigint FROM rooms WHERE id = '${room.id}'`), [[String(t + 10)]]);
});

// Issue 19 item 6: a room_finished webhook publishes the same room event as
// an end through rooms, so media refuses joins at once, not when its cache
// entry lapses.
test('room_finished: media refuses joins with 409 room_ended at once (room event), well inside its cache TTL', { skip: !HAVE_MEDIA && 'needs cx-rooms and cx-media' }, async (t) => {
  const owner = mintAccessToken({ sub: randomUUID() });
  const auth = { Authorization: `Bearer ${owner}` };
  const created = await s.natsRequest('rooms.create', { name: 'Finished by LiveKit' }, auth);
  assert.equal(created.status, 200, created.text);
  const room = created.json;
  const nc = await s.nats();
  const ended = nc.subscribe(`${s.prefix}.events.rooms.ended`, { max: 1 });
  const join = () => s.natsRequest('media.join', { id: room.id }, auth);
  assert.equal((await join()).status, 200, 'joinable before (media cache now warm for 1 s)');
  const tWarm = Date.now();
  const fin = lk.eventBody({ event: 'room_finished', room: room.livekit_room, createdAt: now() });
  assert.equal((await deliver(fin, { auth: await lk.signSdk(fin) })).status, 200);
  let r;
  for (;;) {
    r = await join();
    if (r.status !== 200 || Date.now() - tWarm > 600) break;
    await sleep(20);
  }
  const after = Date.now() - tWarm;
  t.diagnostic(`first refusal ${after} ms after the cache was warmed (TTL 1000 ms)`);
  assert.equal(r.status, 409, `still joinable ${after} ms after the warm-up (cache TTL 1000 ms)`);
  assert.equal(r.json.code, 'room_ended');
  assert.ok(after < 600, `${after} ms`);
  // the event itself: RoomChanged{event: "ended", room} like rooms publishes
  for await (const m of ended) {
    const txt = Buffer.from(m.data).toString('latin1');
    assert.ok(txt.includes('ended') && txt.includes(room.id) && txt.includes(room.livekit_room), 'RoomChanged carries the room');
  }
});

// Issue 19 item 10: nothing of an ended room stays in Redis but the short
// finish guard.
test('room_finished drops every presence key of the room (timestamps, tracks), not only the hash', async () => {
  const room = await createRoom();
  const t = now();
  const lkr = room.livekit_room;
  assert.equal((await deliver(joined(lkr, 'kim', 'PA_k', t))).status, 200);
  assert.equal((await deliver(joined(lkr, 'lou', 'PA_l', t))).status, 200);
  assert.equal((await deliver(lk.eventBody({ event: 'track_published', room: lkr, identity: 'kim', sid: 'PA_k', trackSid: 'TR_k', createdAt: t }))).status, 200);
  assert.equal((await deliver(lk.eventBody({ event: 'track_published', room: lkr, identity: 'lou', sid: 'PA_l', trackSid: 'TR_l', createdAt: t + 1 }))).status, 200);
  assert.equal((await deliver(left(lkr, 'lou', 'PA_l', t + 2))).status, 200);
  // an event stamped after the finish (LiveKit nodes' clocks differ)
  assert.equal((await deliver(joined(lkr, 'max', 'PA_m', t + 30))).status, 200);
  // (braces stripped: the same check holds for keys with or without hash tags)
  const keysOf = async () => (await s.redis('--scan', '--pattern', `cx:*${lkr}*`)).split('\n').filter((k) => k && !k.startsWith('cx:webhook:event:')).map((k) => k.replace(/[{}]/g, '')).sort();
  assert.deepEqual(await keysOf(), [`cx:presence-ts:${lkr}`, `cx:presence:${lkr}`, `cx:track-ts:${lkr}`, `cx:tracks:${lkr}`]);

  assert.equal((await deliver(lk.eventBody({ event: 'room_finished', room: lkr, createdAt: t + 10 }))).status, 200);
  assert.deepEqual(await keysOf(), [`cx:room-finished:${lkr}`], 'only the finish guard is left');
  const ttl = Number(await s.redis('TTL', (await s.redis('--scan', '--pattern', `cx:room-finished:*${lkr}*`)).trim()));
  assert.ok(ttl > 0 && ttl <= 600, `finish guard TTL ${ttl} s (not the 6 h presence TTL)`);
  // later events of the ended room bring nothing back
  assert.equal((await deliver(joined(lkr, 'ned', 'PA_n', t + 40))).status, 200);
  assert.equal((await deliver(lk.eventBody({ event: 'track_published', room: lkr, identity: 'ned', sid: 'PA_n', trackSid: 'TR_n', createdAt: t + 41 }))).status, 200);
  assert.deepEqual(await keysOf(), [`cx:room-finished:${lkr}`]);
  assert.deepEqual((await history(lkr)).map((r) => r[2]).sort(), ['kim', 'lou', 'lou', 'max', 'ned'], 'history still records them');
});

test('a room ended through rooms drops every presence key of the room', { skip: !HAVE_HTTP && 'needs cx-rooms' }, async () => {
  const owner = mintAccessToken({ sub: randomUUID() });
  const auth = { Authorization: `Bearer ${owner}` };
  const created = await s.natsRequest('rooms.create', { name: 'Ended by its host' }, auth);
  assert.equal(created.status, 200, created.text);
  const lkr = created.json.livekit_room;
  const t = now();
  assert.equal((await deliver(joined(lkr, 'oz', 'PA_o', t))).status, 200);
  assert.equal((await deliver(lk.eventBody({ event: 'track_published', room: lkr, identity: 'oz', sid: 'PA_o', trackSid: 'TR_o', createdAt: t }))).status, 200);
  assert.equal((await deliver(left(lkr, 'oz', 'PA_o', t + 1))).status, 200);
  assert.equal((await s.natsRequest('rooms.end', { id: created.json.id }, auth)).status, 200);
  const keys = (await s.redis('--scan', '--pattern', `cx:*${lkr}*`)).split('\n').filter((k) => k && !k.startsWith('cx:webhook:event:'));
  assert.deepEqual(keys, []);
});

test('unknown event types and unknown rooms are accepted and ignored (still de-duplicated)', async () => {
  const room = await createRoom();
  const eg = lk.eventBody({ event: 'egress_started', room: room.livekit_room });
  const r = await deliver(eg);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { status: 'ok' });
  assert.equal(await s.redis('GET', `cx:webhook:event:{${room.livekit_room}}:${JSON.parse(eg).id}`), 'done');

  const ghost = `cx-${randomUUID()}`;
  const j = joined(ghost, 'zed', 'PA_z', now());
  assert.equal((await deliver(j)).status, 200);
  assert.equal(await s.redis('EXISTS', `cx:presence:{${ghost}}`), '0');
  assert.deepEqual(await history(ghost), []);
  assert.equal(await s.redis('GET', `cx:webhook:event:{${ghost}}:${JSON.parse(j).id}`), 'done');
  await sleep(200);
  assert.equal(published.filter((x) => x.ev.livekit_room === ghost).length, 0);
});

test('event without id is processed (history keyed by body hash)', async () => {
  const room = await createRoom();
  const body = lk.eventBody({ event: 'participant_joined', room: room.livekit_room, identity: 'noid', sid: 'PA_n', name: 'N', createdAt: now(), id: null });
  assert.equal((await deliver(body)).status, 200);
  assert.equal((await deliver(body)).status, 200);
  assert.ok((await presence(room.livekit_room)).noid);
  const h = await history(room.livekit_room);
  assert.equal(h.length, 1);
  assert.match(h[0][0], /^body-sha256:[0-9a-f]{64}$/);
});

// Every forgery is 401 invalid_webhook and leaves no trace.
test('bad signatures are 401 invalid_webhook and store nothing', async () => {
  const room = await createRoom();
  const t = now();
  const body = joined(room.livekit_room, 'mallory', 'PA_m', t);
  const id = JSON.parse(body).id;
  const altered = Buffer.from(body.toString().replace('mallory name', 'mallorx name'));
  const cases = {
    'forged signature (wrong secret)': [body, lk.signGo(body, { secret: 'not-the-secret' })],
    'body altered after signing': [altered, lk.signGo(body)],
    'trailing newline added': [Buffer.concat([body, Buffer.from('\n')]), lk.signGo(body)],
    'wrong key (iss)': [body, lk.signGo(body, { key: 'otherkey' })],
    'expired beyond leeway': [body, lk.signGo(body, { now: t - 400, ttl: 300 })],
    'nbf in the future': [body, lk.signGo(body, { nbf: t + 120 })],
    'no exp': [body, lk.signGo(body, { claims: { iss: 'devkey', nbf: t, sha256: lk.sha256B64(body) } })],
    'no sha256 claim': [body, lk.signGo(body, { claims: { iss: 'devkey', exp: t + 300, nbf: t } })],
    'hex instead of base64 sha': [body, lk.signGo(body, { sha: (await import('node:crypto')).createHash('sha256').update(body).digest('hex') })],
    'HS512': [body, lk.signGo(body, { header: '{"alg":"HS512","typ":"JWT"}', alg: 'sha512' })],
    'alg none': [body, lk.signGo(body, { header: '{"alg":"none"}' }).replace(/[^.]+$/, '')],
    'Bearer prefix': [body, 'Bearer ' + lk.signGo(body)],
    'garbage': [body, 'not-a-jwt'],
    'empty': [body, ''],
  };
  for (const [name, [b, auth]] of Object.entries(cases)) {
    const r = await deliver(b, { auth });
    assert.equal(r.status, 401, `${name}: ${r.text}`);
    assert.equal(HAVE_HTTP ? r.json.error : r.json.code, 'invalid_webhook', name);
  }
  assert.equal(await s.redis('EXISTS', `cx:presence:{${room.livekit_room}}`), '0');
  assert.equal(await s.redis('EXISTS', `cx:webhook:event:{${room.livekit_room}}:${id}`), '0');
  assert.deepEqual(await history(room.livekit_room), []);
  // within the leeway (expired 5 s ago) it is accepted, and only then stored
  assert.equal((await deliver(body, { auth: lk.signGo(body, { now: t - 305, ttl: 300 }) })).status, 200);
  assert.ok((await presence(room.livekit_room)).mallory);
});

test('malformed JSON and a missing event are 400 invalid_json (verified first)', async () => {
  for (const raw of ['{"event":"participant_joined",', '[]', '{"id":"EV_noevent","createdAt":"1"}', '{"event":""}', '{"event":"room_started","room":"x"}', '{"event":"room_started","createdAt":"soon"}']) {
    const body = Buffer.from(raw);
    const r = await deliver(body);
    assert.equal(r.status, 400, `${raw}: ${r.text}`);
    assert.equal(HAVE_HTTP ? r.json.error : r.json.code, 'invalid_json', raw);
  }
  // unsigned garbage is 401, not 400: nothing is parsed before verification
  const r = await deliver(Buffer.from('{nope'), { auth: lk.signGo(Buffer.from('{}')) });
  assert.equal(r.status, 401);
});

test('content type must be application/webhook+json or application/json', async () => {
  const room = await createRoom();
  const body = joined(room.livekit_room, 'ct', 'PA_ct', now());
  const bad = await deliver(body, { contentType: 'text/plain' });
  assert.equal(bad.status, 415, bad.text);
  assert.equal((await presence(room.livekit_room)).ct, undefined);
  const ok = await deliver(body, { contentType: 'application/json; charset=utf-8' });
  assert.equal(ok.status, 200, ok.text);
  assert.ok((await presence(room.livekit_room)).ct);
});

test('Postgres down: 503 and nothing acknowledged; the retried delivery is stored', async () => {
  const room = await createRoom();
  const body = joined(room.livekit_room, 'pgretry', 'PA_pr', now());
  const auth = lk.signGo(body);
  // stores.sh runs Postgres with synchronous_commit=off and stops it with
  // -m immediate: flush the room row first or the restart may lose it.
  await s.psql('CHECKPOINT');
  await s.storeCtl('stop', 'pg');
  try {
    const r = await deliver(body, { auth });
    assert.equal(r.status, 503, r.text);
    assert.equal(await s.redis('EXISTS', `cx:webhook:event:{${room.livekit_room}}:${JSON.parse(body).id}`), '0', 'claim released');
    assert.equal((await presence(room.livekit_room)).pgretry, undefined);
  } finally {
    await s.storeCtl('start', 'pg');
  }
  let r;
  for (let i = 0; i < 50; i++) {
    r = await deliver(body, { auth });
    if (r.status === 200) break;
    await sleep(200);
  }
  assert.equal(r.status, 200, r.text);
  assert.ok((await presence(room.livekit_room)).pgretry);
  assert.equal((await history(room.livekit_room)).length, 1);
});

test('Redis down: 503 while down, then the retried delivery is stored', async () => {
  const room = await createRoom();
  const body = joined(room.livekit_room, 'rdretry', 'PA_rr', now());
  const auth = lk.signGo(body);
  await s.storeCtl('stop', 'redis');
  try {
    const r = await deliver(body, { auth });
    assert.equal(r.status, 503, r.text);
    assert.deepEqual(await history(room.livekit_room), [], 'nothing stored while Redis is down');
  } finally {
    await s.storeCtl('start', 'redis');
  }
  let r;
  for (let i = 0; i < 50; i++) {
    r = await deliver(body, { auth });
    if (r.status === 200) break;
    await sleep(200);
  }
  assert.equal(r.status, 200, r.text);
  assert.equal((await presence(room.livekit_room)).rdretry.sid, 'PA_rr');
  assert.equal((await history(room.livekit_room)).length, 1);
});

test('NATS subject tokens are sanitized', async () => {
  // a LiveKit room Calixio knows whose name is not a valid subject token
  const lkRoom = `odd.room *>${randomUUID().slice(0, 8)}`;
  await s.psql(`INSERT INTO rooms (name, owner_user_id, max_participants, empty_timeout, livekit_room) VALUES ('odd', gen_random_uuid(), 5, 300, '${lkRoom}')`);
  const body = joined(lkRoom, 'odd', 'PA_o', now());
  assert.equal((await deliver(body)).status, 200);
  const m = await waitPublished((x) => x.ev.id === JSON.parse(body).id);
  assert.ok(m);
  assert.equal(m.subject, `${s.prefix}.events.room.${lkRoom.replace(/[. *>]/g, '_')}.participant_joined`);
  assert.equal(m.ev.livekit_room, lkRoom);
});

test('through the gateway: oversized body is 413, the contract answer is {"status":"ok"}', { skip: !HAVE_HTTP && 'gateway/rooms not built' }, async () => {
  const room = await createRoom();
  const big = Buffer.alloc(1024 * 1024 + 10, 0x20);
  big.write('{"event":"room_started"}');
  const r = await lk.postWebhook(s, big, { auth: lk.signGo(big) });
  assert.equal(r.status, 413, r.text);
  assert.equal(r.json.error, 'payload_too_large');
  const body = joined(room.livekit_room, 'gw', 'PA_gw', now());
  const ok = await lk.postWebhook(s, body);
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json, { status: 'ok' });
});

test('GET /rooms/{id}/participants reflects webhook presence', { skip: !HAVE_HTTP && 'gateway/rooms not built' }, async () => {
  const owner = randomUUID();
  const token = mintAccessToken({ sub: owner });
  const cr = await s.http('POST', '/rooms', { json: { name: 'Presence room' }, headers: { Authorization: `Bearer ${token}` } });
  assert.equal(cr.status, 201, cr.text);
  const { id, livekit_room: lkRoom } = cr.json;
  const t = now();
  const get = async () => {
    const r = await s.http('GET', `/rooms/${id}/participants`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, r.text);
    return r.json.map((p) => p.identity).sort();
  };
  assert.deepEqual(await get(), []);
  assert.equal((await lk.postWebhook(s, joined(lkRoom, 'p1', 'PA_p1', t))).status, 200);
  assert.equal((await lk.postWebhook(s, joined(lkRoom, 'p2', 'PA_p2', t))).status, 200);
  assert.equal((await lk.postWebhook(s, joined(lkRoom, 'EG_rec', 'PA_rec', t))).status, 200);
  assert.deepEqual(await get(), ['p1', 'p2']);
  const r = await s.http('GET', `/rooms/${id}/participants`, { headers: { Authorization: `Bearer ${token}` } });
  const p1 = r.json.find((p) => p.identity === 'p1');
  assert.deepEqual(p1, { identity: 'p1', name: 'p1 name', sid: 'PA_p1', joined_at: new Date((t - 2) * 1000).toISOString().replace('.000Z', 'Z'), role: 'participant', audio: false, video: false, screen_share: false });
  assert.equal((await lk.postWebhook(s, left(lkRoom, 'p1', 'PA_p1', t + 1))).status, 200);
  assert.deepEqual(await get(), ['p2']);
  assert.equal((await lk.postWebhook(s, lk.eventBody({ event: 'room_finished', room: lkRoom, createdAt: t + 2 }))).status, 200);
  assert.deepEqual(await get(), []);
  const room = await s.http('GET', `/rooms/${id}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(room.json.status, 'ended');
});

test('directly on NATS the daemon enforces the rules itself (not only the gateway)', async () => {
  const room = await createRoom();
  const body = joined(room.livekit_room, 'natsdirect', 'PA_nd', now());
  const ct = await lk.natsWebhook(s, body, { contentType: 'text/plain' });
  assert.equal(ct.status, 415);
  assert.equal(ct.json.code, 'unsupported_media_type');
  const none = await lk.natsWebhook(s, body, { contentType: '' });
  assert.equal(none.status, 415);
  const forged = await lk.natsWebhook(s, body, { auth: lk.signGo(body, { secret: 'x' }) });
  assert.equal(forged.status, 401);
  assert.equal(forged.json.code, 'invalid_webhook');
  assert.equal((await presence(room.livekit_room)).natsdirect, undefined);
  const ok = await lk.natsWebhook(s, body, { auth: await lk.signSdk(body) });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.json, { status: 'ok' });
  assert.ok((await presence(room.livekit_room)).natsdirect);
});

test('LIVEKIT_WEBHOOK_SECRET, when set, is the signing secret of the key', async () => {
  assert.equal(await s.killDaemon('webhook', 0), 0);
  const d = s.startDaemon('webhook', { LIVEKIT_WEBHOOK_SECRET: 'webhook-only-secret' });
  const room = await createRoom();
  const body = joined(room.livekit_room, 'whs', 'PA_whs', now());
  let r;
  for (let i = 0; i < 100; i++) { // until the new copy answers
    assert.equal(d.exit, null, s.logs('webhook', 1));
    r = await deliver(body, { auth: lk.signGo(body) }).catch(() => ({ status: 0 }));
    if (r.status !== 503 && r.status !== 0) break;
    await sleep(100);
  }
  assert.equal(r.status, 401, 'the API secret is no longer accepted');
  assert.equal((await deliver(body, { auth: lk.signGo(body, { secret: 'webhook-only-secret' }) })).status, 200);
  assert.ok((await presence(room.livekit_room)).whs);
});
