// server.mjs: the peer a user would otherwise deploy next to LiveKit, a small
// Node HTTP server on the official livekit-server-sdk that answers
// POST /rooms/{id}/join exactly like Calixio's guest join: a LiveKit token
// for identity guest-<32 hex>, name user_name (default "Guest"), grants
// roomJoin/canPublish/canSubscribe/canPublishData for that room, TTL 1h, and
// the same JSON shape {room_id, room_name, livekit_room, token, expires_in,
// state, url, identity, role, room_token}: role "guest" and a room token, an
// HS256 JWT (aud calixio-room, sub identity, room, name, role, jti, iat, nbf,
// exp) signed with JWT_SECRET by node:crypto, as Calixio signs its own.
//
//   PORT=8090 WORKERS=1 ROOM_ID=<uuid> ROOM_NAME=<name> LIVEKIT_ROOM=<name> node server.mjs
//
// Rooms live in memory (the one given by env): the peer does no database
// lookup, where Calixio's media daemon reads a 1 s room cache over Postgres.
// WORKERS>1 runs that many processes with node:cluster on one port.
// Prints "listening <port>" once every worker listens.
import cluster from 'node:cluster';
import http from 'node:http';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { AccessToken } from 'livekit-server-sdk';

const PORT = Number(process.env.PORT || 8090);
const WORKERS = Number(process.env.WORKERS || 1);
const API_KEY = process.env.LIVEKIT_API_KEY || 'devkey';
const API_SECRET = process.env.LIVEKIT_API_SECRET || 'secret';
const PUBLIC_URL = process.env.LIVEKIT_PUBLIC_URL || 'ws://127.0.0.1:7880';
const JWT_SECRET = process.env.JWT_SECRET || 'bench-jwt-secret-0123456789abcdef';
const TTL_S = 3600;

const b64url = (b) => Buffer.from(b).toString('base64url');
const JWT_HEAD = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
function roomToken(roomId, identity, name) {
  const now = Math.floor(Date.now() / 1000);
  const body = b64url(JSON.stringify({ iss: 'calixio', aud: 'calixio-room', sub: identity, room: roomId, name, role: 'guest', jti: randomUUID(), iat: now, nbf: now, exp: now + TTL_S }));
  const mac = createHmac('sha256', JWT_SECRET).update(`${JWT_HEAD}.${body}`).digest('base64url');
  return `${JWT_HEAD}.${body}.${mac}`;
}
const MAX_BODY = 64 * 1024;

const rooms = new Map();
if (process.env.ROOM_ID) {
  rooms.set(process.env.ROOM_ID, {
    id: process.env.ROOM_ID,
    name: process.env.ROOM_NAME || 'bench room',
    livekit_room: process.env.LIVEKIT_ROOM || `calixio-${process.env.ROOM_ID}`,
    status: 'active',
  });
}

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n > MAX_BODY) reject(new Error('too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function join(req, res, id) {
  let input = {};
  try {
    const text = await readBody(req);
    input = text ? JSON.parse(text) : {};
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('not an object');
  } catch {
    return send(res, 400, { error: 'invalid_json', message: 'invalid JSON body' });
  }
  const name = input.user_name ?? 'Guest';
  if (typeof name !== 'string' || name.length < 1 || [...name].length > 36) {
    return send(res, 400, { error: 'validation_failed', message: 'invalid user_name', reason: 'user_name_max', fields: { user_name: 'max' } });
  }
  const room = rooms.get(id);
  if (!room) return send(res, 404, { error: 'room_not_found', message: 'room not found' });
  if (room.status === 'ended') return send(res, 409, { error: 'room_ended', message: 'room has ended' });
  const identity = `guest-${randomBytes(16).toString('hex')}`;
  const at = new AccessToken(API_KEY, API_SECRET, { identity, name, ttl: TTL_S });
  at.addGrant({ roomJoin: true, room: room.livekit_room, canPublish: true, canSubscribe: true, canPublishData: true });
  const token = await at.toJwt();
  send(res, 200, {
    room_id: room.id,
    room_name: room.name,
    livekit_room: room.livekit_room,
    token,
    expires_in: TTL_S,
    state: { mode: 'conference' },
    url: PUBLIC_URL,
    identity,
    role: 'guest',
    room_token: roomToken(room.id, identity, name),
  });
}

function serve() {
  const server = http.createServer((req, res) => {
    const m = /^(?:\/api(?:\/v1)?)?\/rooms\/([^/?]+)\/join(?:\?.*)?$/.exec(req.url);
    if (req.method === 'POST' && m) {
      join(req, res, decodeURIComponent(m[1])).catch(() => send(res, 500, { error: 'internal', message: 'internal error' }));
    } else if (req.method === 'GET' && req.url === '/healthz') {
      send(res, 200, { status: 'ok' });
    } else {
      send(res, 404, { error: 'not_found', message: 'not found' });
    }
  });
  server.keepAliveTimeout = 60000;
  server.listen(PORT, '127.0.0.1', () => {
    if (cluster.isPrimary) console.log(`listening ${PORT}`);
    else process.send?.('listening');
  });
}

if (WORKERS > 1 && cluster.isPrimary) {
  let up = 0;
  for (let i = 0; i < WORKERS; i++) {
    const w = cluster.fork();
    w.on('message', (msg) => {
      if (msg === 'listening' && ++up === WORKERS) console.log(`listening ${PORT} workers ${WORKERS}`);
    });
  }
  const stop = () => {
    for (const w of Object.values(cluster.workers)) w.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  process.on('SIGTERM', () => process.exit(0));
  serve();
}
