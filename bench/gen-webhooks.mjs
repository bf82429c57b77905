// gen-webhooks.mjs: pre-generate signed LiveKit webhooks for bench/lua/webhook.lua.
//
//   node gen-webhooks.mjs OUT_FILE COUNT LIVEKIT_ROOM RUN_TAG [THREADS=2] [TTL_S=900]
//
// Writes COUNT lines "<jwt>\t<body>": participant_joined / participant_left
// events for LIVEKIT_ROOM with distinct ids EV_bench_<RUN_TAG>_<n>, in the
// byte layout livekit-server sends (tests/harness/livekit-webhook.mjs), each
// signed as LiveKit signs (HS256 JWT, key devkey, secret `secret`, claim
// sha256 = base64(SHA-256(body)), exp = now + TTL_S). Lines come in blocks of
// 2*THREADS: THREADS joins, then the THREADS matching leaves, so that the
// wrk thread k (which sends lines k, k+THREADS, ...) sends the join of a
// participant before its leave. Prints "generated COUNT in MS ms".
import { createWriteStream } from 'node:fs';
import { eventBody, signGo } from '../tests/harness/livekit-webhook.mjs';

const [out, countArg, room, tag, threadsArg = '2', ttlArg = '900'] = process.argv.slice(2);
if (!out || !countArg || !room || !tag) {
  console.error('usage: node gen-webhooks.mjs OUT_FILE COUNT LIVEKIT_ROOM RUN_TAG [THREADS] [TTL_S]');
  process.exit(2);
}
const count = Number(countArg);
const T = Number(threadsArg);
const ttl = Number(ttlArg);
const t0 = Date.now();
const now = Math.floor(t0 / 1000);
// Two body templates (joined, left) rendered once by the harness, then
// filled per event: the per-event cost is the string fill, SHA-256 and HMAC.
const template = (event) =>
  eventBody({ event, room, identity: '@IDENT@', sid: '@SID@', name: '@NAME@', joinedAt: now - 5, id: '@ID@', createdAt: now - (event === 'participant_left' ? 0 : 1) }).toString('utf8');
const tJoin = template('participant_joined');
const tLeave = template('participant_left');
const ws = createWriteStream(out);
let chunk = [];
for (let n = 0; n < count; n++) {
  const block = Math.floor(n / (2 * T));
  const pos = n % (2 * T);
  const p = block * T + (pos % T); // participant number
  const leaving = pos >= T;
  const body = (leaving ? tLeave : tJoin)
    .replace('@IDENT@', `bench-${tag}-${p}`)
    .replace('@SID@', `PA_${tag}_${p}`)
    .replace('@NAME@', `Bench ${p}`)
    .replace('@ID@', `EV_bench_${tag}_${n}`);
  const jwt = signGo(body, { now, ttl });
  chunk.push(`${jwt}\t${body}\n`);
  if (chunk.length === 1000) {
    if (!ws.write(chunk.join(''))) await new Promise((r) => ws.once('drain', r));
    chunk = [];
  }
}
ws.end(chunk.join(''));
await new Promise((r) => ws.on('finish', r));
console.log(`generated ${count} in ${Date.now() - t0} ms`);
