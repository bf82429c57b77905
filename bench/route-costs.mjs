#!/usr/bin/env node
// route-costs.mjs: what each route of ../shared/API-ROOMS.md costs, measured
// (issues 16, 17, 18: "Postgres round trips, NATS hops" per route).
//
//   CX_BUILD_DIR=build-release TMPDIR=/tmp/me node bench/route-costs.mjs [--reps N] [--details] [--only REGEX]
//
// Starts a real stack (tests/harness/stack.mjs: secured nats-server,
// PostgreSQL, Redis, the five daemons) against the fake LiveKit
// (tests/harness/fake-livekit.mjs) and, for every route, sets up fresh state,
// performs the request once to warm up, then N more times (default 3), each
// on fresh state, counting inside a window that opens just before the
// request and closes when the stack has been quiet for QUIET_MS after the
// answer:
//   NATS      every message published on the server, seen by a wiretap
//             subscription to '>' with the operator user (requests, replies,
//             room events, JetStream API traffic);
//   Postgres  statements the server executed, from log_statement=all
//             (set with ALTER SYSTEM + pg_reload_conf(), no restart, nothing
//             changed in stores.sh): one "statement:" or "execute" line of
//             DIR/pg.log per round trip, attributed to the daemon by its role
//             (log_line_prefix %u); the script's own psql (role postgres) is not counted;
//   Redis     INFO commandstats deltas over one persistent admin connection
//             (its own INFO calls are not counted);
//   LiveKit   Twirp calls the fake LiveKit received.
// Right after each measured window an idle window of the same length is
// counted; a route's figure is min(route windows) - min(idle windows), so
// sweepers, timers and heartbeats that fall into a window are subtracted.
// Prints a Markdown table, then a compact form (one line per route).
import { createConnection } from 'node:net';
import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { resolve, join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
if (!process.env.CX_BUILD_DIR) {
  process.env.CX_BUILD_DIR = [join(root, 'build-release'), join(root, 'build-asan')].find((d) => existsSync(join(d, 'cx-rooms'))) ?? join(root, 'build-release');
} else {
  process.env.CX_BUILD_DIR = resolve(process.env.CX_BUILD_DIR);
}
const { startStack, sleep } = await import('../tests/harness/stack.mjs');
const { startFakeLiveKit } = await import('../tests/harness/fake-livekit.mjs');
const lkw = await import('../tests/harness/livekit-webhook.mjs');

const argv = process.argv.slice(2);
const opt = (k, d) => {
  const i = argv.indexOf(k);
  return i >= 0 ? argv[i + 1] : d;
};
const REPS = Number(opt('--reps', 3));
const DETAILS = argv.includes('--details');
const ONLY = opt('--only') ? new RegExp(opt('--only')) : null;
const QUIET_MS = 300;
const MAX_WINDOW_MS = 3000;

// ---- Redis: one persistent RESP connection --------------------------------------
class Resp {
  constructor(port) {
    this.sock = createConnection({ host: '127.0.0.1', port });
    this.buf = Buffer.alloc(0);
    this.waiting = [];
    this.sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.drain();
    });
  }
  drain() {
    while (this.onLine && !this.waiting.length) {
      const r = this.parse(0);
      if (!r) return;
      this.buf = this.buf.subarray(r.end);
      this.onLine(r.value);
    }
    while (this.waiting.length) {
      const r = this.parse(0);
      if (!r) return;
      this.buf = this.buf.subarray(r.end);
      this.waiting.shift()(r.value);
    }
  }
  parse(at) {
    const nl = this.buf.indexOf('\r\n', at);
    if (nl < 0) return null;
    const line = this.buf.toString('utf8', at + 1, nl);
    const t = String.fromCharCode(this.buf[at]);
    if (t === '+' || t === ':') return { value: line, end: nl + 2 };
    if (t === '-') return { value: new Error(line), end: nl + 2 };
    if (t === '$') {
      const n = Number(line);
      if (n < 0) return { value: null, end: nl + 2 };
      if (this.buf.length < nl + 2 + n + 2) return null;
      return { value: this.buf.toString('utf8', nl + 2, nl + 2 + n), end: nl + 2 + n + 2 };
    }
    throw new Error(`unexpected RESP reply ${t}`);
  }
  cmd(...args) {
    const enc = `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('');
    return new Promise((res, rej) => {
      this.waiting.push((v) => (v instanceof Error ? rej(v) : res(v)));
      this.sock.write(enc);
    });
  }
  // addr -> ACL user of every connection
  async clients() {
    const out = new Map();
    for (const line of (await this.cmd('CLIENT', 'LIST')).split('\n')) {
      const a = /\baddr=(\S+)/.exec(line), u = /\buser=(\S+)/.exec(line);
      if (a) out.set(a[1], u ? u[1] : 'default');
    }
    return out;
  }
  close() {
    this.sock.destroy();
  }
}

// ---- the stack -------------------------------------------------------------------
const lk = await startFakeLiveKit({ apiKey: 'devkey', apiSecret: 'secret' });
const s = await startStack({
  daemons: ['auth', 'rooms', 'media', 'webhook', 'gateway'],
  env: {
    LIVEKIT_HOST: lk.url,
    LIVEKIT_MAX_ATTEMPTS: '1',
    LOG_LEVEL: 'info',
    // the same cheap hashes as the integration tests: the cost counted here is I/O, not CPU
    ROOM_PASSWORD_MEMLIMIT: '8388608',
    ROOM_PASSWORD_OPSLIMIT: '1',
  },
});
let exitCode = 0;
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    await s.stop({ check: false }).catch(() => {});
    await lk.stop().catch(() => {});
    process.exit(130);
  });
}
const redis = new Resp(Number(s.storeEnv.REDIS_PORT));
const mon = new Resp(Number(s.storeEnv.REDIS_PORT));
const monLines = []; // {addr, cmd}: 'lua' for commands a script ran
let markerChecks = 0;
try {
  for (const c of [redis, mon]) if (s.storeEnv.REDIS_ADMIN_USER) await c.cmd('AUTH', s.storeEnv.REDIS_ADMIN_USER, s.storeEnv.REDIS_ADMIN_PASSWORD);
  await mon.cmd('MONITOR');
  mon.onLine = (v) => {
    const m = /^\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]*)"(?: "([^"]*)")?/.exec(String(v));
    // cx-auth's once-a-second check of the deny-list marker (services/auth/revocation.c)
    // is known background: left out by its key, so that it neither counts nor keeps a window open
    if (m && m[2].toUpperCase() === 'EXISTS' && m[3] === 'cx:revoked:written') markerChecks++;
    else if (m) monLines.push({ addr: m[1], cmd: m[2].toUpperCase() });
  };
  await s.psql("ALTER SYSTEM SET log_statement = 'all'");
  await s.psql("ALTER SYSTEM SET log_line_prefix = '%m [%p] %u '");
  await s.psql('SELECT pg_reload_conf()');
  await sleep(500);
  await main();
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  redis.close();
  mon.close();
  await s.stop({ check: false });
  await lk.stop();
}
process.exit(exitCode);

async function main() {
  const pgLog = join(s.dir, 'pg.log');
  const nc = await s.nats();
  const seen = []; // {subject, t}
  const tap = nc.subscribe('>');
  (async () => {
    for await (const m of tap) seen.push({ subject: m.subject, t: performance.now() });
  })();
  await nc.flush();

  const pgRead = (from, to) => {
    const n = to - from;
    if (n <= 0) return [];
    const fd = openSync(pgLog, 'r');
    const b = Buffer.alloc(n);
    readSync(fd, b, 0, n, from);
    closeSync(fd);
    const out = [];
    for (const line of b.toString('utf8').split('\n')) {
      const m = /^\S+ \S+ \S+ \[\d+\] (\S*) ?LOG:  (?:statement|execute [^:]*): (.*)$/.exec(line);
      if (m && m[1] !== 'postgres') out.push({ role: m[1].replace(/^calixio_/, ''), sql: m[2] });
    }
    return out;
  };
  const pgSize = () => statSync(pgLog).size;

  // Waits until no NATS message, Postgres log line or LiveKit call for QUIET_MS.
  async function quiet(max = MAX_WINDOW_MS) {
    const t0 = performance.now();
    let last = performance.now();
    let n = seen.length, p = pgSize(), l = lk.calls.length, r = monLines.length;
    while (performance.now() - last < QUIET_MS && performance.now() - t0 < max) {
      await sleep(25);
      const n2 = seen.length, p2 = pgSize(), l2 = lk.calls.length, r2 = monLines.length;
      if (n2 !== n || p2 !== p || l2 !== l || r2 !== r) last = performance.now();
      n = n2; p = p2; l = l2; r = r2;
    }
  }

  async function snapshot() {
    return { t: performance.now(), nats: seen.length, pg: pgSize(), redis: monLines.length, lk: lk.calls.length };
  }
  const users = new Map(); // redis addr -> ACL user
  async function redisUser(addr) {
    if (addr === 'lua') return 'lua';
    if (!users.has(addr)) for (const [k, v] of await redis.clients()) users.set(k, v);
    return (users.get(addr) ?? 'gone').replace(/^calixio_/, '');
  }
  async function delta(a, b) {
    // server advisories ($JS.EVENT.ADVISORY.*, $SYS.*) are no client hop: listed, not counted
    const all = seen.slice(a.nats, b.nats).map((x) => x.subject);
    const isAdv = (x) => x.startsWith('$JS.EVENT.') || x.startsWith('$SYS.');
    const msgs = all.filter((x) => !isAdv(x));
    const adv = all.filter(isAdv);
    const stmts = pgRead(a.pg, b.pg);
    // client round trips by daemon; the commands scripts ran are listed, not counted
    const rcmds = [];
    const admin = s.storeEnv.REDIS_ADMIN_USER?.replace(/^calixio_/, '') ?? 'default';
    for (const x of monLines.slice(a.redis, b.redis)) {
      const u = await redisUser(x.addr);
      if (u !== admin) rcmds.push(u === 'lua' ? `lua:${x.cmd}` : `${u}:${x.cmd}`);
    }
    const rtotal = rcmds.filter((x) => !x.startsWith('lua:')).length;
    const calls = lk.calls.slice(a.lk, b.lk).map((c) => c.method);
    return { nats: msgs.length, msgs, adv, pg: stmts.length, stmts, redis: rtotal, rcmds, lk: calls.length, calls };
  }

  // One measured run: the window is [just before the request, quiet after it].
  async function measureOnce(fn, ctx) {
    await quiet();
    const a = await snapshot();
    const status = await fn(ctx);
    await quiet();
    const b = await snapshot();
    const len = b.t - a.t;
    const busy = await delta(a, b);
    // an idle window of the same length right after
    const c = await snapshot();
    await sleep(len);
    const d = await snapshot();
    const idle = await delta(c, d);
    return { status, busy, idle, len };
  }

  // ---- helpers for the routes --------------------------------------------------
  const bearer = (t) => (t ? { Authorization: `Bearer ${t}` } : {});
  const call = async (method, path, { token, json } = {}) => {
    const o = { headers: bearer(token) };
    if (json !== undefined) o.json = json;
    return s.http(method, path, o);
  };
  const want = (r, status, what) => {
    if (r.status !== status) throw new Error(`${what}: ${status} expected, got ${r.status} ${r.text}`);
    return r;
  };
  let userSeq = 0;
  async function user(name = 'User') {
    const email = `cost-${process.pid}-${++userSeq}@example.com`;
    const password = 'correct horse battery';
    want(await s.natsRequest('auth.register', { name, email, password }), 200, 'register');
    const login = want(await s.natsRequest('auth.login', { email, password }), 200, 'login');
    return { user_id: login.json.user_id, name, email, password, token: login.json.access_token };
  }
  const createRoom = async (u, json = {}) => want(await call('POST', '/rooms', { token: u.token, json: { name: 'Cost room', ...json } }), 201, 'create room').json;
  const joinRoom = async (room, { token, json = { user_name: 'Guest' } } = {}) => want(await call('POST', `/rooms/${room.id}/join`, { token, json }), 200, 'join').json;
  // a guest in the room, known to the fake LiveKit with three tracks
  async function victim(room) {
    const g = await joinRoom(room, { json: { user_name: 'Victim' } });
    const id = g.identity;
    const list = (lk.participants(g.livekit_room) ?? []).map((identity) => ({ identity }));
    lk.setParticipants(g.livekit_room, [...list, {
      identity: id, name: 'Victim', sid: `PA_${id.slice(-6)}`,
      tracks: [{ sid: `TR_a${id.slice(-6)}`, type: 'AUDIO' }, { sid: `TR_v${id.slice(-6)}`, type: 'VIDEO' }, { sid: `TR_s${id.slice(-6)}`, type: 'VIDEO', source: 'SCREEN_SHARE' }],
    }]);
    return g;
  }
  async function webhook(o) {
    const body = lkw.eventBody(o);
    want(await lkw.postWebhook(s, body), 200, `webhook ${o.event}`);
  }

  const host = await user('Host');
  const member = await user('Member');
  // a room with some history: two closed visits, one going, a few messages, audit rows
  const hist = await createRoom(host);
  {
    const now = Math.floor(Date.now() / 1000);
    const mj = await joinRoom(hist, { token: member.token });
    await webhook({ event: 'participant_joined', room: hist.livekit_room, identity: host.user_id, sid: 'PA_h1', name: 'Host', joinedAt: now - 600, createdAt: now - 600 });
    await webhook({ event: 'participant_joined', room: hist.livekit_room, identity: mj.identity, sid: 'PA_m1', name: 'Member', joinedAt: now - 500, createdAt: now - 500 });
    await webhook({ event: 'participant_left', room: hist.livekit_room, identity: mj.identity, sid: 'PA_m1', name: 'Member', joinedAt: now - 500, createdAt: now - 100 });
    for (let i = 0; i < 3; i++) want(await call('POST', `/rooms/${hist.id}/messages`, { token: mj.room_token, json: { text: `hello ${i}` } }), 201, 'message');
    want(await call('PATCH', `/rooms/${hist.id}`, { token: host.token, json: { description: 'history' } }), 200, 'patch');
    want(await call('POST', `/rooms/${hist.id}/invites`, { token: host.token, json: {} }), 201, 'invite');
  }
  const histMember = await joinRoom(hist, { json: { user_name: 'Stats reader' } });
  const openStreams = [];

  // ---- the routes: name, setup() -> ctx, run(ctx) -> status ----------------------
  const R = [];
  const route = (name, setup, run, notes = '') => R.push({ name, setup, run, notes });
  const st = async (p) => (await p).status;

  // baselines of the old contract, for comparison
  route('GET /auth/me (baseline)', async () => ({}), () => st(call('GET', '/auth/me', { token: host.token })));
  route('GET /rooms (baseline)', async () => ({}), () => st(call('GET', '/rooms?limit=20', { token: host.token })));
  route('POST /rooms', async () => ({}), () => st(call('POST', '/rooms', { token: host.token, json: { name: 'Cost room' } })));
  route('GET /rooms/{id}', async () => ({ room: await createRoom(host) }), (c) => st(call('GET', `/rooms/${c.room.id}`, { token: host.token })));
  route('POST /rooms/{id}/end (baseline)', async () => {
    const room = await createRoom(host);
    await joinRoom(room, { token: host.token });
    return { room };
  }, (c) => st(call('POST', `/rooms/${c.room.id}/end`, { token: host.token, json: {} })));
  route('GET /rooms/{id}/participants', async () => ({ room: hist }), (c) => st(call('GET', `/rooms/${c.room.id}/participants`, { token: host.token })));

  // Room, extended (issue 16)
  route('PATCH /rooms/{id} (name+description)', async () => ({ room: await createRoom(host) }), (c) => st(call('PATCH', `/rooms/${c.room.id}`, { token: host.token, json: { name: 'Renamed', description: 'd' } })));
  route('PATCH /rooms/{id} (metadata)', async () => {
    const room = await createRoom(host);
    await joinRoom(room, { token: host.token });
    return { room };
  }, (c) => st(call('PATCH', `/rooms/${c.room.id}`, { token: host.token, json: { metadata: `{"n":${Math.random()}}` } })));
  route('PATCH /rooms/{id} (empty)', async () => ({ room: await createRoom(host) }), (c) => st(call('PATCH', `/rooms/${c.room.id}`, { token: host.token, json: {} })));
  route('DELETE /rooms/{id} (active, in LiveKit)', async () => {
    const room = await createRoom(host);
    await joinRoom(room, { token: host.token });
    return { room };
  }, (c) => st(call('DELETE', `/rooms/${c.room.id}`, { token: host.token })));
  route('GET /rooms/by-code/{code}', async () => ({ room: await createRoom(host) }), (c) => st(call('GET', `/rooms/by-code/${c.room.code}`)));
  route('POST /rooms/by-code/{code}/join (guest)', async () => ({ room: await createRoom(host) }), (c) => st(call('POST', `/rooms/by-code/${c.room.code}/join`, { json: { user_name: 'G' } })));

  // Joining, extended (issues 16, 17)
  route('POST /rooms/{id}/join (guest, open)', async () => ({ room: await createRoom(host) }), (c) => st(call('POST', `/rooms/${c.room.id}/join`, { json: { user_name: 'G' } })));
  route('POST /rooms/{id}/join (signed-in, open)', async () => ({ room: await createRoom(host) }), (c) => st(call('POST', `/rooms/${c.room.id}/join`, { token: member.token, json: {} })));
  route('POST /rooms/{id}/join (host)', async () => ({ room: await createRoom(host) }), (c) => st(call('POST', `/rooms/${c.room.id}/join`, { token: host.token, json: {} })));
  route('POST /rooms/{id}/join (second join, room in LiveKit)', async () => {
    const room = await createRoom(host);
    await joinRoom(room);
    return { room };
  }, (c) => st(call('POST', `/rooms/${c.room.id}/join`, { json: { user_name: 'G' } })));
  route('POST /rooms/{id}/join (pending room, first allowed join starts it)', async () => ({ room: await createRoom(host, { scheduled_at: new Date(Date.now() + 60000).toISOString().replace(/\.\d+Z$/, 'Z') }) }), (c) => st(call('POST', `/rooms/${c.room.id}/join`, { json: { user_name: 'G' } })));
  route('POST /rooms/{id}/join (knock -> 202 waiting)', async () => ({ room: await createRoom(host, { access: 'knock' }) }), (c) => st(call('POST', `/rooms/${c.room.id}/join`, { json: { user_name: 'G' } })));
  route('POST /rooms/{id}/join (invite room, with invite)', async () => {
    const room = await createRoom(host, { access: 'invite' });
    const inv = want(await call('POST', `/rooms/${room.id}/invites`, { token: host.token, json: { max_uses: 5 } }), 201, 'invite').json;
    return { room, inv };
  }, (c) => st(call('POST', `/rooms/${c.room.id}/join`, { json: { user_name: 'G', invite: c.inv.code } })));
  route('POST /rooms/{id}/join (invite room, no invite -> 403)', async () => ({ room: await createRoom(host, { access: 'invite' }) }), (c) => st(call('POST', `/rooms/${c.room.id}/join`, { json: { user_name: 'G' } })));
  route('POST /rooms/{id}/join (locked -> 403)', async () => ({ room: await createRoom(host, { locked: true }) }), (c) => st(call('POST', `/rooms/${c.room.id}/join`, { json: { user_name: 'G' } })));
  route('POST /rooms/{id}/join (password, right)', async () => ({ room: await createRoom(host, { password: 'hunter22' }) }), (c) => st(call('POST', `/rooms/${c.room.id}/join`, { json: { user_name: 'G', password: 'hunter22' } })));
  route('POST /rooms/{id}/join (password, wrong -> 403)', async () => ({ room: await createRoom(host, { password: 'hunter22' }) }), (c) => st(call('POST', `/rooms/${c.room.id}/join`, { json: { user_name: 'G', password: 'wrong-one' } })));
  route('POST /rooms/{id}/join (banned -> 403)', async () => {
    const room = await createRoom(host);
    await joinRoom(room, { token: host.token });
    const mj = await joinRoom(room, { token: member.token });
    lk.setParticipants(room.livekit_room, [{ identity: mj.identity, name: 'Member', sid: 'PA_mb' }]);
    want(await call('POST', `/rooms/${room.id}/participants/${mj.identity}/remove`, { token: host.token, json: { ban: true } }), 204, 'ban');
    return { room };
  }, (c) => st(call('POST', `/rooms/${c.room.id}/join`, { token: member.token, json: {} })));
  route('POST /rooms/{id}/join (full -> 409)', async () => {
    const room = await createRoom(host, { max_participants: 1 });
    const g = await joinRoom(room);
    const now = Math.floor(Date.now() / 1000);
    await webhook({ event: 'participant_joined', room: room.livekit_room, identity: g.identity, sid: 'PA_full', name: 'G', joinedAt: now, createdAt: now });
    return { room };
  }, (c) => st(call('POST', `/rooms/${c.room.id}/join`, { json: { user_name: 'G2' } })));
  route('POST /rooms/{id}/leave (room token)', async () => {
    const room = await createRoom(host);
    return { room, g: await victim(room) };
  }, (c) => st(call('POST', `/rooms/${c.room.id}/leave`, { token: c.g.room_token, json: {} })));
  route('POST /rooms/{id}/leave (second time)', async () => {
    const room = await createRoom(host);
    const g = await victim(room);
    want(await call('POST', `/rooms/${room.id}/leave`, { token: g.room_token, json: {} }), 204, 'leave');
    return { room, g };
  }, (c) => st(call('POST', `/rooms/${c.room.id}/leave`, { token: c.g.room_token, json: {} })));

  // Waiting room (issue 17)
  const knock = async () => {
    const room = await createRoom(host, { access: 'knock' });
    const w = await call('POST', `/rooms/${room.id}/join`, { json: { user_name: 'W' } });
    want(w, 202, 'knock');
    return { room, w: w.json };
  };
  route('GET /rooms/{id}/waiting (host, 1 entry)', knock, (c) => st(call('GET', `/rooms/${c.room.id}/waiting`, { token: host.token })));
  route('GET /rooms/{id}/waiting/{wid} (poll, waiting)', knock, (c) => st(call('GET', `/rooms/${c.room.id}/waiting/${c.w.waiting_id}`, { token: c.w.waiting_token })));
  route('POST /rooms/{id}/waiting/{wid}/approve', knock, (c) => st(call('POST', `/rooms/${c.room.id}/waiting/${c.w.waiting_id}/approve`, { token: host.token, json: {} })));
  route('POST /rooms/{id}/waiting/{wid}/reject', knock, (c) => st(call('POST', `/rooms/${c.room.id}/waiting/${c.w.waiting_id}/reject`, { token: host.token, json: { reason: 'not today' } })));
  route('GET /rooms/{id}/waiting/{wid} (first poll after approval: mints)', async () => {
    const c = await knock();
    want(await call('POST', `/rooms/${c.room.id}/waiting/${c.w.waiting_id}/approve`, { token: host.token, json: {} }), 200, 'approve');
    return c;
  }, (c) => st(call('GET', `/rooms/${c.room.id}/waiting/${c.w.waiting_id}`, { token: c.w.waiting_token })));
  route('GET /rooms/{id}/waiting/{wid} (later poll after approval)', async () => {
    const c = await knock();
    want(await call('POST', `/rooms/${c.room.id}/waiting/${c.w.waiting_id}/approve`, { token: host.token, json: {} }), 200, 'approve');
    want(await call('GET', `/rooms/${c.room.id}/waiting/${c.w.waiting_id}`, { token: c.w.waiting_token }), 200, 'poll');
    return c;
  }, (c) => st(call('GET', `/rooms/${c.room.id}/waiting/${c.w.waiting_id}`, { token: c.w.waiting_token })));

  // Invites (issue 17)
  route('POST /rooms/{id}/invites', async () => ({ room: await createRoom(host) }), (c) => st(call('POST', `/rooms/${c.room.id}/invites`, { token: host.token, json: { label: 'team', max_uses: 10, expires_in: 3600 } })));
  route('GET /rooms/{id}/invites (1 invite)', async () => ({ room: hist }), (c) => st(call('GET', `/rooms/${c.room.id}/invites`, { token: host.token })));
  route('DELETE /rooms/{id}/invites/{iid}', async () => {
    const room = await createRoom(host);
    return { room, inv: want(await call('POST', `/rooms/${room.id}/invites`, { token: host.token, json: {} }), 201, 'invite').json };
  }, (c) => st(call('DELETE', `/rooms/${c.room.id}/invites/${c.inv.id}`, { token: host.token })));

  // Moderation (issue 17)
  const modRoom = async () => {
    const room = await createRoom(host);
    await joinRoom(room, { token: host.token });
    return { room, v: await victim(room) };
  };
  route('POST .../participants/{identity}/remove', modRoom, (c) => st(call('POST', `/rooms/${c.room.id}/participants/${c.v.identity}/remove`, { token: host.token, json: {} })));
  route('POST .../participants/{identity}/remove (ban)', modRoom, (c) => st(call('POST', `/rooms/${c.room.id}/participants/${c.v.identity}/remove`, { token: host.token, json: { ban: true } })));
  route('POST .../participants/{identity}/mute (all: 3 tracks)', modRoom, (c) => st(call('POST', `/rooms/${c.room.id}/participants/${c.v.identity}/mute`, { token: host.token, json: { kind: 'all' } })));
  route('POST .../participants/{identity}/mute (audio: 1 track)', modRoom, (c) => st(call('POST', `/rooms/${c.room.id}/participants/${c.v.identity}/mute`, { token: host.token, json: { kind: 'audio' } })));
  route('POST .../participants/{identity}/role (promote)', modRoom, (c) => st(call('POST', `/rooms/${c.room.id}/participants/${c.v.identity}/role`, { token: host.token, json: { role: 'moderator' } })));

  // Chat (issue 13 part of API-ROOMS.md)
  const chatter = async () => {
    const room = await createRoom(host);
    const g = await joinRoom(room, { json: { user_name: 'Chatty' } });
    const m = want(await call('POST', `/rooms/${room.id}/messages`, { token: g.room_token, json: { text: 'first' } }), 201, 'message').json;
    return { room, g, m };
  };
  route('POST /rooms/{id}/messages', chatter, (c) => st(call('POST', `/rooms/${c.room.id}/messages`, { token: c.g.room_token, json: { text: 'hello there' } })));
  route('GET /rooms/{id}/messages (3 messages)', async () => ({ room: hist }), (c) => st(call('GET', `/rooms/${c.room.id}/messages?limit=50`, { token: histMember.room_token })));
  route('PATCH /rooms/{id}/messages/{mid}', chatter, (c) => st(call('PATCH', `/rooms/${c.room.id}/messages/${c.m.id}`, { token: c.g.room_token, json: { text: 'edited' } })));
  route('DELETE /rooms/{id}/messages/{mid} (sender)', chatter, (c) => st(call('DELETE', `/rooms/${c.room.id}/messages/${c.m.id}`, { token: c.g.room_token })));
  route('DELETE /rooms/{id}/messages/{mid} (host)', chatter, (c) => st(call('DELETE', `/rooms/${c.room.id}/messages/${c.m.id}`, { token: host.token })));

  // Live events
  const openStream = async (room, token) => {
    const ac = new AbortController();
    const r = await fetch(`${s.url}/rooms/${room.id}/events`, { headers: bearer(token), signal: ac.signal });
    const rd = r.body.getReader();
    rd.read().catch(() => {}); // the first frame, if any, arrives in the window
    openStreams.push(ac);
    return { status: r.status, ac };
  };
  route('GET /rooms/{id}/events (open, room token)', async () => {
    const room = await createRoom(host);
    return { room, g: await joinRoom(room) };
  }, async (c) => (await openStream(c.room, c.g.room_token)).status, 'window ends when quiet after the headers; the stream stays open');
  route('GET /rooms/{id}/events (close)', async () => {
    const room = await createRoom(host);
    const g = await joinRoom(room);
    return { room, ...(await openStream(room, g.room_token)) };
  }, async (c) => {
    c.ac.abort();
    return 'closed';
  }, 'the client going away');
  route('room event fan-out to 1 open stream (PATCH)', async () => {
    const room = await createRoom(host);
    const g = await joinRoom(room);
    await openStream(room, g.room_token);
    return { room };
  }, (c) => st(call('PATCH', `/rooms/${c.room.id}`, { token: host.token, json: { name: 'Renamed' } })), 'compare with the PATCH row: the difference is the delivery');

  // Account (issue 18)
  route('GET /users/me', async () => ({}), () => st(call('GET', '/users/me', { token: host.token })));
  route('PATCH /users/me', async () => ({}), () => st(call('PATCH', '/users/me', { token: host.token, json: { name: 'Host', avatar_url: 'https://example.com/a.png' } })));
  route('GET /users/me/settings', async () => ({}), () => st(call('GET', '/users/me/settings', { token: host.token })));
  route('PATCH /users/me/settings', async () => ({}), () => st(call('PATCH', '/users/me/settings', { token: host.token, json: { theme: 'dark', camera_on_join: false } })));
  route('PUT /users/me/settings', async () => ({}), () => st(call('PUT', '/users/me/settings', { token: host.token, json: { theme: 'light' } })));
  route('GET /users/me/video-profiles (1 profile)', async () => {
    const u = await user('Profiles');
    want(await call('POST', '/users/me/video-profiles', { token: u.token, json: { name: 'Blur', background: 'blur', noise_suppression: 'low' } }), 201, 'profile');
    return { u };
  }, (c) => st(call('GET', '/users/me/video-profiles', { token: c.u.token })));
  route('POST /users/me/video-profiles (default)', async () => ({ u: await user('Profiles') }), (c) => st(call('POST', '/users/me/video-profiles', { token: c.u.token, json: { name: 'Blur', background: 'blur', noise_suppression: 'low', is_default: true } })));
  const profile = async () => {
    const u = await user('Profiles');
    return { u, p: want(await call('POST', '/users/me/video-profiles', { token: u.token, json: { name: 'Blur', background: 'blur', noise_suppression: 'low' } }), 201, 'profile').json };
  };
  route('PATCH /users/me/video-profiles/{pid}', profile, (c) => st(call('PATCH', `/users/me/video-profiles/${c.p.id}`, { token: c.u.token, json: { noise_suppression: 'high' } })));
  route('DELETE /users/me/video-profiles/{pid}', profile, (c) => st(call('DELETE', `/users/me/video-profiles/${c.p.id}`, { token: c.u.token })));
  const twoSessions = async () => {
    const u = await user('Sessions');
    const other = want(await s.natsRequest('auth.login', { email: u.email, password: u.password }), 200, 'login').json;
    return { u, other };
  };
  route('POST /auth/password (2 sessions)', twoSessions, (c) => st(call('POST', '/auth/password', { token: c.u.token, json: { current_password: c.u.password, new_password: 'another horse battery' } })), 'includes one Argon2id verify + hash (PASSWORD_OPSLIMIT=2, 8 MiB)');
  route('POST /auth/password (wrong current)', twoSessions, (c) => st(call('POST', '/auth/password', { token: c.u.token, json: { current_password: 'wrong password!', new_password: 'another horse battery' } })));
  route('GET /auth/sessions (2 sessions)', twoSessions, (c) => st(call('GET', '/auth/sessions', { token: c.u.token })));
  route('DELETE /auth/sessions/{sid}', async () => {
    const c = await twoSessions();
    const list = want(await call('GET', '/auth/sessions', { token: c.u.token }), 200, 'sessions').json;
    return { ...c, sid: list.find((x) => !x.current).id };
  }, (c) => st(call('DELETE', `/auth/sessions/${c.sid}`, { token: c.u.token })));
  route('DELETE /users/me (1 room, 2 sessions)', async () => {
    const c = await twoSessions();
    const room = await createRoom(c.u);
    await joinRoom(room, { token: c.u.token });
    return c;
  }, (c) => st(call('DELETE', '/users/me', { token: c.u.token, json: { password: c.u.password } })));

  // History, audit, call quality (issue 18)
  route('GET /users/me/calls', async () => ({}), () => st(call('GET', '/users/me/calls', { token: member.token })));
  route('GET /rooms/{id}/history (3 visits)', async () => ({}), () => st(call('GET', `/rooms/${hist.id}/history`, { token: host.token })));
  route('GET /rooms/{id}/audit', async () => ({}), () => st(call('GET', `/rooms/${hist.id}/audit?limit=20`, { token: host.token })));
  route('POST /rooms/{id}/stats', async () => ({ g: await joinRoom(hist, { json: { user_name: 'Stats' } }) }), (c) => st(call('POST', `/rooms/${hist.id}/stats`, { token: c.g.room_token, json: { rtt_ms: 40, jitter_ms: 5, packet_loss_pct: 0.5, bitrate_kbps: 900 } })));
  route('GET /rooms/{id}/stats', async () => ({}), () => st(call('GET', `/rooms/${hist.id}/stats`, { token: host.token })));
  route('POST /livekit/webhook (participant_joined, reference)', async () => {
    const room = await createRoom(host);
    return { room, g: await joinRoom(room) };
  }, async (c) => {
    const now = Math.floor(Date.now() / 1000);
    const body = lkw.eventBody({ event: 'participant_joined', room: c.room.livekit_room, identity: c.g.identity, sid: `PA_${c.g.identity.slice(-6)}`, name: 'G', joinedAt: now, createdAt: now });
    return (await lkw.postWebhook(s, body)).status;
  }, 'not a new route: what feeds history and presence');

  // ---- run -------------------------------------------------------------------------
  const results = [];
  const idleMin = { nats: Infinity, pg: Infinity, redis: Infinity, lk: Infinity };
  for (const r of R) {
    if (ONLY && !ONLY.test(r.name)) continue;
    const runs = [];
    for (let i = 0; i <= REPS; i++) {
      const ctx = await r.setup();
      const m = await measureOnce(r.run, ctx);
      if (i > 0) runs.push(m); // the first one warms up
      for (const ac of openStreams) ac.abort();
    }
    if (openStreams.splice(0).length) {
      // the gateway notices a client that went away at its next write (the 15 s
      // ping); until then the room's ordered consumer stays and heartbeats: wait
      // it out so that it is no noise in the next routes
      await sleep(17000);
      await quiet();
    }
    const k = ['nats', 'pg', 'redis', 'lk'];
    const min = {}, max = {}, idle = {}, net = {};
    for (const x of k) {
      min[x] = Math.min(...runs.map((m) => m.busy[x]));
      max[x] = Math.max(...runs.map((m) => m.busy[x]));
      idle[x] = Math.min(...runs.map((m) => m.idle[x]));
      idleMin[x] = Math.min(idleMin[x], idle[x]);
      net[x] = Math.max(0, min[x] - idle[x]);
    }
    // each metric's breakdown comes from the run with that metric's minimum
    const bestOf = (x) => runs.reduce((a, b) => (b.busy[x] < a.busy[x] ? b : a)).busy;
    const best = { msgs: bestOf('nats').msgs, adv: bestOf('nats').adv, stmts: bestOf('pg').stmts, rcmds: bestOf('redis').rcmds, calls: bestOf('lk').calls };
    const res = { name: r.name, status: [...new Set(runs.map((m) => m.status))].join('/'), net, min, max, idle, best, notes: r.notes, ms: Math.round(Math.min(...runs.map((m) => m.len))) };
    results.push(res);
    process.stderr.write(`${r.name}: ${res.status} nats=${net.nats} pg=${net.pg} redis=${net.redis} lk=${net.lk}\n`);
    if (DETAILS) {
      process.stderr.write(`  nats: ${summarize(best.msgs)}${best.adv.length ? ` + advisories: ${summarize(best.adv)}` : ''}\n  pg: ${summarize(best.stmts.map((x) => `${x.role}: ${x.sql.slice(0, 160)}`))}\n  redis: ${summarize(best.rcmds)}\n  lk: ${best.calls.join(',')}\n  idle: ${runs.map((m) => `[nats ${summarize(m.idle.msgs)}; pg ${summarize(m.idle.stmts.map((x) => `${x.role}: ${x.sql.slice(0, 60)}`))}; redis ${summarize(m.idle.rcmds)}]`).join(' ')}\n`);
    }
  }

  // ---- output --------------------------------------------------------------------
  const out = [];
  out.push('| route | NATS messages | Postgres statements | Redis commands | LiveKit calls | notes |');
  out.push('|---|---|---|---|---|---|');
  for (const r of results) {
    const spread = ['nats', 'pg', 'redis', 'lk'].filter((x) => r.max[x] !== r.min[x]).map((x) => `${x} ${r.min[x]}..${r.max[x]}`);
    const nats = summarize(r.best.msgs.map(natsKind), true);
    const pg = summarize(r.best.stmts.map((x) => x.role), true);
    const lua = r.best.rcmds.filter((x) => x.startsWith('lua:')).length;
    const rd = summarize(r.best.rcmds.filter((x) => !x.startsWith('lua:')).map((x) => x.split(':')[0]), true) + (lua ? `; +${lua} inside Lua` : '');
    const adv = r.best.adv.length ? `+${r.best.adv.length} JetStream advisories (not counted)` : '';
    const notes = [`${r.status}`, r.notes, adv, spread.length ? `varied: ${spread.join(', ')}` : ''].filter(Boolean).join('; ');
    out.push(`| ${r.name} | ${r.net.nats} (${nats}) | ${r.net.pg} (${pg}) | ${r.net.redis}${rd ? ` (${rd})` : ''} | ${r.net.lk}${r.best.calls.length ? ` (${summarize(r.best.calls, true)})` : ''} | ${notes} |`);
  }
  out.push('');
  out.push(`background left out by key: ${markerChecks} EXISTS cx:revoked:written (cx-auth deny-list marker, 1/s)`);
  out.push(`idle windows (same length as each measured one, minimum over all routes): nats=${idleMin.nats} pg=${idleMin.pg} redis=${idleMin.redis} lk=${idleMin.lk}`);
  out.push('');
  out.push('compact (route: nats/pg/redis/livekit):');
  for (const r of results) out.push(`${r.name}: ${r.net.nats}/${r.net.pg}/${r.net.redis}/${r.net.lk}`);
  console.log(out.join('\n'));
}

// 'calixio.rooms.join' -> 'rooms.join'; replies -> 'reply'; JetStream API -> '$JS.API.<verb>'
function natsKind(subject) {
  if (subject.startsWith('_INBOX.')) return 'reply';
  if (subject.startsWith('$JS.API.')) return subject.split('.').slice(0, 4).join('.');
  if (subject.startsWith('$JS.ACK.')) return '$JS.ACK';
  const p = subject.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '{id}').split('.');
  if (p[1] === 'events' && p[2] === 'room') return `event ${p.slice(4).join('.')}`;
  return p.slice(1).join('.');
}

function summarize(list, short = false) {
  const c = new Map();
  for (const x of list) c.set(x, (c.get(x) ?? 0) + 1);
  return [...c.entries()].map(([k, v]) => (v > 1 ? `${k} ×${v}` : k)).join(short ? ', ' : ' | ');
}
