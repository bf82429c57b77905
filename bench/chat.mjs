// chat.mjs: chat under load (issue 13 limits). Not run by the tests.
//
//   CX_BUILD_DIR=build-release node bench/chat.mjs     (starts its own stack)
//   BENCH_URL=http://127.0.0.1:8080 BENCH_DATABASE_URL=postgres://... \
//     BENCH_ACCESS_TOKEN=<a user's access token> node bench/chat.mjs
//
// 1. Throughput: POST /rooms/{id}/messages through the gateway for
//    BENCH_SECONDS (10) over BENCH_CONNS (64) keep-alive connections (raw
//    sockets, one request in flight each). The contract allows 10 messages
//    per 10 s per sender, so the senders are BENCH_SENDERS (8000) distinct
//    guests, each with the room token of a real join, each sending at most
//    10 messages (no 429 expected; any is counted). Then Postgres is asked
//    for the room's messages: every acknowledged (201) id must be stored.
//    Prints msg/s, p50/p99 of the POSTs, errors, the stored check and the
//    CPU µs per message of the serving side (own stack only).
// 2. Fan-out: BENCH_LISTENERS (1000) raw-socket SSE streams on one room
//    (room tokens of real joins), BENCH_FANOUT_MSGS (50) messages posted one
//    every 100 ms: time from the POST's 201 answer reaching this client to
//    the chat.message event reaching every listener, p50/p99 (target
//    p99 < 100 ms).
// One line per limit at the end: LIMIT name=... value=... target=...
import { connect as tcpConnect } from 'node:net';
import { readFileSync, readdirSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';

const execFileP = promisify(execFile);
const E = process.env;
const SECONDS = Number(E.BENCH_SECONDS ?? 10);
const CONNS = Number(E.BENCH_CONNS ?? 64);
const SENDERS = Number(E.BENCH_SENDERS ?? 8000);
const PER_SENDER = 10; // API-ROOMS.md: more than 10 per 10 s from one sender is 429
const LISTENERS = Number(E.BENCH_LISTENERS ?? 1000);
const FANOUT_MSGS = Number(E.BENCH_FANOUT_MSGS ?? 50);
// BENCH_SKIP_FANOUT=1: the throughput part only; BENCH_PROFILE=1: prints the rooms pid and waits 3 s (perf record -p)
const TARGET_RATE = 3000;
const TARGET_FANOUT_P99 = 100;

const pct = (a, p) => (a.length ? a[Math.min(a.length - 1, Math.floor((a.length * p) / 100))] : NaN);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the stack ----------------------------------------------------------------
let stack = null;
let base, dbUrl, hostToken;
if (E.BENCH_URL) {
  base = E.BENCH_URL.replace(/\/$/, '');
  dbUrl = E.BENCH_DATABASE_URL;
  hostToken = E.BENCH_ACCESS_TOKEN;
  if (!dbUrl || !hostToken) throw new Error('BENCH_URL needs BENCH_DATABASE_URL and BENCH_ACCESS_TOKEN (a user who may create rooms)');
} else {
  const { startStack } = await import('../tests/harness/stack.mjs');
  stack = await startStack({
    env: { RATE_LIMIT_RPS: '0', GATEWAY_MAX_CONNECTIONS: String(LISTENERS + CONNS + 2000), LOG_LEVEL: 'warn', ...JSON.parse(E.BENCH_STACK_ENV ?? '{}') },
  });
  base = stack.url;
  dbUrl = stack.storeEnv.DATABASE_URL;
  const email = `bench-${randomUUID()}@example.com`;
  const reg = await stack.natsRequest('auth.register', { name: 'Bench', email, password: 'correct horse battery' });
  if (reg.status !== 200) throw new Error(`register: ${reg.text}`);
  const login = await stack.natsRequest('auth.login', { email, password: 'correct horse battery' });
  if (login.status !== 200) throw new Error(`login: ${login.text}`);
  hostToken = login.json.access_token;
}
const url = new URL(base);
const port = Number(url.port || 80);
const host = url.hostname;

async function psql(sql) {
  const { stdout } = await execFileP('psql', [dbUrl, '-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-c', sql], { maxBuffer: 256 << 20 });
  return stdout.split('\n').filter((l) => l.length);
}

async function http(method, path, { token, json } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(base + path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  const text = await r.text();
  return { status: r.status, text, json: text ? JSON.parse(text) : null };
}

async function newRoom(name) {
  const r = await http('POST', '/rooms', { token: hostToken, json: { name, max_participants: 500 } });
  if (r.status !== 201) throw new Error(`POST /rooms: ${r.status} ${r.text}`);
  return r.json;
}

// n guests join room id: their room tokens
async function guests(id, n) {
  const out = [];
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < n) {
      const i = next++;
      const r = await http('POST', `/rooms/${id}/join`, { json: { user_name: `Guest ${i}` } });
      if (r.status !== 200) throw new Error(`join: ${r.status} ${r.text}`);
      out.push(r.json.room_token);
    }
  }));
  return out;
}

// ---- a keep-alive HTTP/1.1 connection, one request at a time ---------------------
function conn() {
  const sock = tcpConnect(port, host);
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let waiting = null;
  const c = {
    ready: new Promise((r) => sock.once('connect', r)),
    dead: false,
    send(raw) {
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        sock.write(raw);
      });
    },
    close: () => sock.destroy(),
  };
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    for (;;) {
      const h = buf.indexOf('\r\n\r\n');
      if (h < 0 || !waiting) return;
      const head = buf.subarray(0, h).toString('latin1');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const len = m ? Number(m[1]) : 0;
      if (buf.length < h + 4 + len) return;
      const body = buf.subarray(h + 4, h + 4 + len).toString('utf8');
      buf = buf.subarray(h + 4 + len);
      const w = waiting;
      waiting = null;
      w.resolve({ status: Number(head.slice(9, 12)), body, close: /\r\nconnection:\s*close/i.test(head) });
    }
  });
  const fail = (e) => {
    c.dead = true;
    if (waiting) waiting.reject(e ?? new Error('closed'));
    waiting = null;
  };
  sock.on('error', fail);
  sock.on('close', () => fail());
  return c;
}

function postRaw(roomId, token, text) {
  const body = JSON.stringify({ text });
  return `POST /rooms/${roomId}/messages HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

// ---- CPU of the serving side (own stack only) ------------------------------------
function ticksOf(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return null;
  }
}
function servingPids() {
  if (!stack) return [];
  const roots = new Set(['auth', 'rooms', 'media', 'webhook', 'gateway'].map((n) => stack.daemon(n)?.proc?.pid).filter(Boolean));
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  for (const d of all) {
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(stack.dir)) roots.add(Number(d));
    } catch {
      /* gone */
    }
  }
  for (const f of ['nats.pid', 'redis.pid']) { // redis-server rewrites its command line
    try {
      roots.add(Number(readFileSync(`${stack.dir}/${f}`, 'utf8').trim()));
    } catch {
      /* not started */
    }
  }
  const out = new Set(roots);
  for (const d of all) { // postgres backends: children of the postmaster
    const s = ticksOf(d);
    if (s && out.has(s.ppid)) out.add(Number(d));
  }
  return [...out];
}
const cpuTicks = (pids) => pids.reduce((a, p) => a + (ticksOf(p)?.ticks ?? 0), 0);
function cpuByName(pids) {
  const out = {};
  for (const p of pids) {
    let n = '?';
    try {
      n = readFileSync(`/proc/${p}/comm`, 'utf8').trim().replace(/^postgres.*/, 'postgres');
    } catch {
      /* gone */
    }
    out[n] = (out[n] ?? 0) + (ticksOf(p)?.ticks ?? 0);
  }
  return out;
}

// ---- 1. throughput ---------------------------------------------------------------
const limits = [];
{
  const room = await newRoom('Chat bench');
  const t0j = Date.now();
  const tokens = await guests(room.id, SENDERS);
  console.log(`chat: ${SENDERS} guest senders joined in ${Date.now() - t0j} ms (distinct senders, each at most ${PER_SENDER} messages: the per-sender limit of 10 per 10 s is never reached)`);
  const conns = Array.from({ length: CONNS }, conn);
  await Promise.all(conns.map((c) => c.ready));
  const acked = [];
  const lat = [];
  const codes = {};
  let k = 0;
  let errors = 0;
  let exhausted = false;
  const pids = servingPids();
  if (E.BENCH_PROFILE === '1' && stack) {
    console.log(`PROFILE rooms=${stack.daemon('rooms').proc.pid} gateway=${stack.daemon('gateway').proc.pid}`);
    await sleep(3000);
  }
  const cpu0 = cpuTicks(pids);
  const byName0 = cpuByName(pids);
  const t0 = process.hrtime.bigint();
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(conns.map(async (c) => {
    while (Date.now() < end && !c.dead) {
      const n = k++;
      const s = Math.floor(n / PER_SENDER);
      if (s >= tokens.length) {
        exhausted = true;
        return;
      }
      const t = process.hrtime.bigint();
      let r;
      try {
        r = await c.send(postRaw(room.id, tokens[s], `bench message ${n}`));
      } catch {
        errors++;
        return;
      }
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
      codes[r.status] = (codes[r.status] ?? 0) + 1;
      if (r.status === 201) acked.push(JSON.parse(r.body).id);
      else errors++;
      if (r.close) return;
    }
  }));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const p of servingPids()) if (!pids.includes(p)) pids.push(p); // born during the run: counted from 0
  const cpu1 = cpuTicks(pids);
  const byName1 = cpuByName(pids);
  for (const c of conns) c.close();
  lat.sort((a, b) => a - b);
  const rate = acked.length / secs;
  const stored = new Set(await psql(`SELECT id::text FROM chat_messages WHERE room_id = '${room.id}' AND deleted_at IS NULL`));
  const missing = acked.filter((id) => !stored.has(id)).length;
  const cpuUs = pids.length && acked.length ? ((cpu1 - cpu0) * 1e6) / 100 / acked.length : NaN;
  console.log(`chat: ${acked.length} messages acknowledged in ${secs.toFixed(2)} s over ${CONNS} connections: ${rate.toFixed(0)} msg/s, p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms, errors ${errors} (statuses ${JSON.stringify(codes)})${exhausted ? ', senders exhausted before the end (raise BENCH_SENDERS)' : ''}`);
  console.log(`chat: stored check: ${acked.length - missing}/${acked.length} acknowledged ids in Postgres, ${missing} missing; ${stored.size} rows in the room`);
  if (pids.length) {
    const parts = Object.keys(byName1).map((n) => `${n} ${(((byName1[n] - (byName0[n] ?? 0)) * 1e6) / 100 / Math.max(1, acked.length)).toFixed(0)}`).join(', ');
    console.log(`chat: serving side CPU ${cpuUs.toFixed(0)} µs per message (daemons, nats, Postgres, Redis; ${pids.length} processes): ${parts}`);
  }
  limits.push(`LIMIT name=chat_msgs_per_s value=${rate.toFixed(0)} target=${TARGET_RATE} errors=${errors} stored_missing=${missing} p99_ms=${pct(lat, 99).toFixed(2)} senders=distinct_guests${exhausted ? ' senders_exhausted=1' : ''} op=ge unit=msg/s -- POST /rooms/{id}/messages through the gateway (own stack, distinct guest senders; ${errors} errors, ${missing} acknowledged but not stored)`);
}

// ---- 2. fan-out ------------------------------------------------------------------
if (E.BENCH_SKIP_FANOUT !== '1') {
  const room = await newRoom('Chat fan-out bench');
  const ltok = await guests(room.id, LISTENERS);
  const stok = await guests(room.id, Math.ceil(FANOUT_MSGS / PER_SENDER));
  const arrivals = new Map(); // message id -> [arrival ms]
  const streams = [];
  for (let i = 0; i < LISTENERS; i++) {
    const sock = tcpConnect(port, host);
    sock.setEncoding('utf8');
    const st = { sock, open: false };
    let buf = '';
    sock.on('data', (d) => {
      buf += d;
      if (!st.open && buf.startsWith('HTTP/1.1 200')) st.open = true;
      let j;
      while ((j = buf.indexOf('\n\n')) >= 0) {
        const f = buf.slice(0, j);
        buf = buf.slice(j + 2);
        if (!f.includes('event: chat.message\n')) continue;
        const m = /^data: (.*)$/m.exec(f);
        if (!m) continue;
        const id = JSON.parse(m[1]).id;
        const now = performance.now();
        const a = arrivals.get(id);
        if (a) a.push(now);
        else arrivals.set(id, [now]);
      }
    });
    sock.on('error', () => {});
    sock.write(`GET /rooms/${room.id}/events HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${ltok[i]}\r\nAccept: text/event-stream\r\n\r\n`);
    streams.push(st);
    if (i % 200 === 199) await sleep(20);
  }
  const t0 = Date.now();
  while (streams.filter((x) => x.open).length < LISTENERS && Date.now() - t0 < 60000) await sleep(100);
  const open = streams.filter((x) => x.open).length;
  await sleep(500);
  const c = conn();
  await c.ready;
  const answered = new Map(); // id -> answer time
  for (let e = 0; e < FANOUT_MSGS; e++) {
    const r = await c.send(postRaw(room.id, stok[Math.floor(e / PER_SENDER)], `fan-out ${e}`));
    const at = performance.now();
    if (r.status === 201) answered.set(JSON.parse(r.body).id, at);
    await sleep(100);
  }
  await sleep(2000);
  c.close();
  const lat = [];
  let early = 0;
  for (const [id, at] of answered) {
    for (const t of arrivals.get(id) ?? []) {
      if (t < at) early++;
      lat.push(Math.max(0, t - at));
    }
  }
  lat.sort((a, b) => a - b);
  const want = answered.size * open;
  console.log(`fan-out: ${answered.size}/${FANOUT_MSGS} messages posted into ${open}/${LISTENERS} listeners: ${lat.length}/${want} deliveries, POST answer -> listener p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms (target < ${TARGET_FANOUT_P99}); ${early} arrived before the POST's answer (counted as 0)`);
  limits.push(`LIMIT name=chat_fanout_p99_ms value=${pct(lat, 99).toFixed(1)} target=${TARGET_FANOUT_P99} listeners=${open} delivered=${lat.length}/${want} op=lt unit=ms -- a chat message into a room with ${open} listeners, from the POST's answer to every listener (p99; ${lat.length}/${want} delivered)`);
  for (const x of streams) x.sock.destroy();
}

for (const l of limits) console.log(l);
if (stack) await stack.stop({ check: false });
process.exit(0);
