// events.mjs: live event streams under load (issue 13 limits). Not run by
// the tests.
//
//   node bench/events.mjs            (starts its own stack from CX_BUILD_DIR, default build/)
//   BENCH_STREAMS=10000 BENCH_LISTENERS=1000 BENCH_ROOMS=10 BENCH_EVENTS=50 node bench/events.mjs
//
// 1. BENCH_STREAMS raw-socket SSE streams on one gateway copy, spread over
//    BENCH_ROOMS rooms (room tokens minted with the stack's JWT_SECRET):
//    the gateway's RSS before and after (target: < 300 MiB growth) and the
//    gaps between pings on a sample of streams (EVENTS_PING_INTERVAL=2s
//    here: on time means within 2 s + 250 ms).
// 2. Fan-out: BENCH_EVENTS events (chat.message RoomEvents published on NATS
//    the way a service does, data_json carrying the send time) into a room
//    with BENCH_LISTENERS listeners: p50/p99 from publish to arrival at every
//    listener (target p99 < 100 ms).
// The client needs a file limit above BENCH_STREAMS (ulimit -n 65536).
// Prints one LIMIT line per limit (bench/driver.mjs puts them in the table).
import { connect as tcpConnect } from 'node:net';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { startStack, sleep, signJwt, DEFAULT_ENV } from '../tests/harness/stack.mjs';

const N = Number(process.env.BENCH_STREAMS ?? 10000);
const L = Number(process.env.BENCH_LISTENERS ?? 1000);
const ROOMS = Number(process.env.BENCH_ROOMS ?? 10);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 50);
const PING_MS = 2000;

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const pct = (a, p) => a[Math.min(a.length - 1, Math.floor((a.length * p) / 100))];

function roomToken(roomId) {
  const now = Math.floor(Date.now() / 1000);
  return signJwt({ alg: 'HS256', typ: 'JWT' }, { iss: 'calixio', aud: 'calixio-room', sub: `b-${randomUUID().slice(0, 12)}`, room: roomId, name: 'Bench', role: 'participant', jti: randomUUID(), iat: now, nbf: now, exp: now + 3600 }, DEFAULT_ENV.JWT_SECRET);
}

// protobuf RoomEvent{type=1, room_id=2, data_json=40}
function varint(n) {
  const o = [];
  while (n > 127) { o.push((n & 127) | 128); n = Math.floor(n / 128); }
  o.push(n);
  return Buffer.from(o);
}
const fld = (no, v) => { const b = Buffer.from(v); return Buffer.concat([varint(no * 8 + 2), varint(b.length), b]); };

function openStream(port, roomId, onFrame) {
  const sock = tcpConnect(port, '127.0.0.1');
  sock.setEncoding('utf8');
  let buf = '';
  const st = { sock, open: false, pings: [] };
  sock.on('data', (d) => {
    buf += d;
    if (!st.open && buf.startsWith('HTTP/1.1 200')) st.open = true;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const f = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (f.endsWith(': ping')) st.pings.push(Date.now());
      else if (onFrame) onFrame(f);
    }
  });
  sock.on('error', () => {});
  sock.write(`GET /rooms/${roomId}/events?token=${roomToken(roomId)} HTTP/1.1\r\nHost: bench\r\n\r\n`);
  return st;
}

const s = await startStack({ env: { EVENTS_PING_INTERVAL: `${PING_MS}ms`, RATE_LIMIT_RPS: '0', LOG_LEVEL: 'warn' } });
try {
  const port = Number(new URL(s.url).port);
  const gw = s.daemon('gateway').proc.pid;
  const rooms = Array.from({ length: ROOMS }, () => randomUUID());
  const rss0 = rssKiB(gw);
  const t0 = Date.now();
  const streams = [];
  for (let i = 0; i < N; i++) {
    streams.push(openStream(port, rooms[i % ROOMS]));
    if (i % 200 === 199) await sleep(20);
  }
  while (streams.filter((x) => x.open).length < N && Date.now() - t0 < 120000) await sleep(200);
  const open = streams.filter((x) => x.open).length;
  const openMs = Date.now() - t0;
  await sleep(PING_MS * 3 + 500);
  const rss1 = rssKiB(gw);
  const gaps = [];
  for (const x of streams.slice(0, 500)) for (let k = 1; k < x.pings.length; k++) gaps.push(x.pings[k] - x.pings[k - 1]);
  gaps.sort((a, b) => a - b);
  console.log(`streams: ${open}/${N} open in ${openMs} ms; gateway RSS ${(rss0 / 1024).toFixed(1)} -> ${(rss1 / 1024).toFixed(1)} MiB (+${((rss1 - rss0) / 1024).toFixed(1)} MiB, target < 300)`);
  console.log(`pings (interval ${PING_MS} ms, 500 streams): gaps p50 ${pct(gaps, 50)} ms, p99 ${pct(gaps, 99)} ms, max ${gaps.at(-1)} ms`);
  console.log(`LIMIT name=streams_open value=${open} target=${N} op=ge unit=streams -- event streams open at once on one gateway copy (default GATEWAY_MAX_CONNECTIONS)`);
  console.log(`LIMIT name=streams_rss_mib value=${((rss1 - rss0) / 1024).toFixed(1)} target=300 op=lt unit=MiB -- gateway RSS growth with ${open} event streams`);
  console.log(`LIMIT name=ping_gap_max_ms value=${gaps.length ? gaps.at(-1) : NaN} target=${PING_MS + 500} op=lt unit=ms -- longest gap between pings (interval ${PING_MS} ms) on 500 of ${open} streams`);
  for (const x of streams) x.sock.destroy();
  await sleep(1000);

  // fan-out
  const room = randomUUID();
  const lat = [];
  const ls = [];
  for (let i = 0; i < L; i++) {
    ls.push(openStream(port, room, (f) => {
      const m = /data: (.*)$/m.exec(f);
      if (m && f.includes('event: chat.message')) lat.push(Date.now() - JSON.parse(m[1]).sent);
    }));
    if (i % 200 === 199) await sleep(20);
  }
  while (ls.filter((x) => x.open).length < L) await sleep(100);
  await sleep(500);
  const nc = await s.nats();
  for (let e = 0; e < EVENTS; e++) {
    const data = JSON.stringify({ id: randomUUID(), text: `bench ${e}`, sent: Date.now() });
    nc.publish(`${s.prefix}.events.room.${room}.chat.message`, Buffer.concat([fld(1, 'chat.message'), fld(2, room), fld(40, data)]));
    await sleep(100);
  }
  await sleep(2000);
  lat.sort((a, b) => a - b);
  console.log(`fan-out: ${EVENTS} events x ${L} listeners: ${lat.length}/${EVENTS * L} delivered, publish -> listener p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms (target < 100)`);
  console.log(`LIMIT name=fanout_publish_p99_ms value=${lat.length === EVENTS * L ? pct(lat, 99) : NaN} target=100 op=lt unit=ms -- one event into a room with ${L} listeners, from the NATS publish to every listener (p99; NaN when one was lost)`);
  for (const x of ls) x.sock.destroy();
} finally {
  await s.stop({ check: false });
}
