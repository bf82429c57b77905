// fake-livekit.mjs: a fake LiveKit RoomService (Twirp JSON over HTTP) on
// loopback for integration tests.
//
// It checks each call the way livekit-server does (shared/livekit/FACTS.md):
// POST only, Content-Type application/json, `Authorization: Bearer <jwt>`
// signed HS256 with the API secret, iss = API key, exp required and not past,
// nbf not in the future (60 s leeway as the Go server), unpadded segments,
// and the grant the method needs (CreateRoom/DeleteRoom: roomCreate;
// ListRooms: roomList; per-room methods (ListParticipants,
// RemoveParticipant, UpdateRoomMetadata, MutePublishedTrack,
// UpdateParticipant): roomAdmin + room equal to the
// request's room). Refusals are answered like the server (401 Twirp
// `unauthenticated` "permissions denied", or plain-text 401s for token
// problems). Every call is recorded with its method, body, claims and the
// answer's status, so tests assert exactly what LiveKit would have received.
//
//   const lk = await startFakeLiveKit({ apiKey: 'devkey', apiSecret: 'secret' });
//   lk.url                          http://127.0.0.1:<port>
//   lk.calls                        [{method, body, claims, status, authError, at}]
//   lk.callsOf('CreateRoom')        calls of one method that passed auth
//   lk.rooms                        Map name -> Room (snake_case, as answered)
//   lk.failNext('CreateRoom', n, {status: 500, code: 'internal', msg})
//   lk.stall('CreateRoom', true)    never answer that method (until false / stop)
//   lk.setParticipants(room, [{identity, name, sid, joined_at, kind, hidden,
//                       tracks: [{sid, type: 'AUDIO'|'VIDEO', source, muted}]}], {camel})
//                                   MutePublishedTrack / UpdateParticipant act on these
//                                   (404 not_found for an unknown identity or track)
//   lk.participants(room)           identities LiveKit has in the room
//   lk.addRoom(name, {ageSeconds})  a room made behind Calixio's back
//   await lk.stop()
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';

const LEEWAY_S = 60;

const GRANT_OF = {
  CreateRoom: 'roomCreate',
  DeleteRoom: 'roomCreate',
  ListRooms: 'roomList',
};

function b64urlJson(seg) {
  if (!/^[A-Za-z0-9_-]*$/.test(seg)) throw new Error('padded or non-base64url segment');
  return JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
}

// Verifies a service token; returns {claims} or {error: <plain text>}.
function verifyToken(auth, apiKey, apiSecret) {
  if (!auth) return { error: null, claims: null }; // no header: no grants at all
  if (!auth.startsWith('Bearer ')) return { error: 'invalid authorization header. Must start with Bearer ' };
  const token = auth.slice(7);
  const parts = token.split('.');
  if (parts.length !== 3) return { error: 'invalid authorization token' };
  let header, claims;
  try {
    header = b64urlJson(parts[0]);
    claims = b64urlJson(parts[1]);
  } catch {
    return { error: 'invalid authorization token' };
  }
  if (header.alg !== 'HS256') return { error: 'invalid authorization token: signing method not allowed' };
  if (claims.iss !== apiKey) return { error: 'invalid API key' };
  const want = createHmac('sha256', apiSecret).update(`${parts[0]}.${parts[1]}`).digest();
  const got = Buffer.from(parts[2], 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) return { error: 'invalid authorization token: signature is invalid' };
  const now = Date.now() / 1000;
  if (typeof claims.exp !== 'number') return { error: 'invalid authorization token: token is missing required claim: exp claim is required' };
  if (now >= claims.exp + LEEWAY_S) return { error: 'invalid authorization token: token has invalid claims: token is expired' };
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || now < claims.nbf - LEEWAY_S)) return { error: 'invalid authorization token: token has invalid claims: token is not valid yet' };
  return { claims };
}

function hasGrant(method, claims, body) {
  const v = claims?.video ?? {};
  const need = GRANT_OF[method];
  if (need) return v[need] === true;
  return v.roomAdmin === true && typeof v.room === 'string' && v.room === body.room;
}

function roomJson(name, o = {}) {
  const now = Math.floor(Date.now() / 1000) - (o.ageSeconds ?? 0);
  return {
    sid: `RM_${Math.random().toString(36).slice(2, 14)}`,
    name,
    empty_timeout: o.emptyTimeout ?? 300,
    departure_timeout: 20,
    max_participants: o.maxParticipants ?? 0,
    creation_time: String(now),
    creation_time_ms: String(now * 1000),
    turn_password: '',
    enabled_codecs: [{ mime: 'audio/opus', fmtp_line: '' }],
    metadata: o.metadata ?? '',
    num_participants: 0,
    num_publishers: 0,
    active_recording: false,
    version: null,
  };
}

// A TrackInfo as LiveKit answers it: {sid, type: AUDIO|VIDEO, source, muted}.
function trackJson(tr) {
  return { sid: tr.sid, type: tr.type ?? 'AUDIO', name: tr.name ?? '', muted: !!tr.muted, source: tr.source ?? (tr.type === 'VIDEO' ? 'CAMERA' : 'MICROPHONE') };
}

function participantJson(p, camel) {
  const joined = String(p.joined_at ?? Math.floor(Date.now() / 1000));
  if (camel) {
    const o = { sid: p.sid ?? '', identity: p.identity, name: p.name ?? '', joinedAt: joined, permission: { canSubscribe: true, canPublish: true, hidden: !!p.hidden } };
    if (p.kind && p.kind !== 'STANDARD') o.kind = p.kind;
    return o;
  }
  return {
    sid: p.sid ?? '',
    identity: p.identity,
    state: 'ACTIVE',
    tracks: (p.tracks ?? []).map(trackJson),
    metadata: p.metadata ?? '',
    joined_at: joined,
    joined_at_ms: String(Number(joined) * 1000),
    name: p.name ?? '',
    version: 1,
    permission: { can_subscribe: true, can_publish: true, can_publish_data: true, hidden: !!p.hidden, recorder: false },
    region: '',
    is_publisher: false,
    kind: p.kind ?? 'STANDARD',
    attributes: {},
    disconnect_reason: 'UNKNOWN_REASON',
  };
}

export async function startFakeLiveKit({ apiKey = 'devkey', apiSecret = 'secret', host = '127.0.0.1' } = {}) {
  const calls = [];
  const rooms = new Map();
  const participants = new Map(); // room -> {list, camel}
  const failures = new Map(); // method -> [{status, code, msg}]
  const stalled = new Set();
  const pending = new Set(); // stalled responses, ended on stop()

  const twirpError = (res, status, code, msg) => {
    const body = JSON.stringify({ code, msg });
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return status;
  };
  const ok = (res, obj) => {
    const body = JSON.stringify(obj);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return 200;
  };

  function handle(method, body, res) {
    switch (method) {
      case 'CreateRoom': {
        if (typeof body.name !== 'string' || !body.name) return twirpError(res, 400, 'invalid_argument', 'name is required');
        let r = rooms.get(body.name);
        if (!r) {
          r = roomJson(body.name, { emptyTimeout: body.emptyTimeout ?? body.empty_timeout, maxParticipants: body.maxParticipants ?? body.max_participants, metadata: body.metadata });
          rooms.set(body.name, r);
        }
        return ok(res, r);
      }
      case 'DeleteRoom': {
        if (!rooms.has(body.room)) return twirpError(res, 404, 'not_found', 'requested room does not exist');
        rooms.delete(body.room);
        participants.delete(body.room);
        return ok(res, {});
      }
      case 'ListRooms': {
        const names = body.names ?? [];
        const list = [...rooms.values()].filter((r) => names.length === 0 || names.includes(r.name));
        return ok(res, { rooms: list });
      }
      case 'ListParticipants': {
        if (!rooms.has(body.room)) return twirpError(res, 404, 'not_found', 'requested room does not exist');
        const p = participants.get(body.room) ?? { list: [], camel: false };
        return ok(res, { participants: p.list.map((x) => participantJson(x, p.camel)) });
      }
      case 'UpdateRoomMetadata': {
        const r = rooms.get(body.room);
        if (!r) return twirpError(res, 404, 'not_found', 'requested room does not exist');
        if (typeof body.metadata !== 'string') return twirpError(res, 400, 'invalid_argument', 'metadata must be a string');
        r.metadata = body.metadata;
        return ok(res, r);
      }
      case 'RemoveParticipant': {
        if (typeof body.identity !== 'string' || !body.identity) return twirpError(res, 400, 'invalid_argument', 'identity is required');
        const p = participants.get(body.room);
        const i = p ? p.list.findIndex((x) => x.identity === body.identity) : -1;
        if (i < 0) return twirpError(res, 404, 'not_found', 'participant does not exist');
        p.list.splice(i, 1);
        return ok(res, {});
      }
      case 'MutePublishedTrack': {
        const p = participants.get(body.room);
        const x = p?.list.find((y) => y.identity === body.identity);
        if (!x) return twirpError(res, 404, 'not_found', 'participant does not exist');
        const tr = (x.tracks ?? []).find((y) => y.sid === body.track_sid);
        if (!tr) return twirpError(res, 404, 'not_found', 'track is not found');
        tr.muted = !!body.muted;
        return ok(res, { track: trackJson(tr) });
      }
      case 'UpdateParticipant': {
        const p = participants.get(body.room);
        const x = p?.list.find((y) => y.identity === body.identity);
        if (!x) return twirpError(res, 404, 'not_found', 'participant does not exist');
        if (body.metadata !== undefined) x.metadata = body.metadata;
        if (body.permission !== undefined) x.permission = body.permission;
        return ok(res, participantJson(x, false));
      }
      default:
        return twirpError(res, 404, 'bad_route', `no handler for path "/twirp/livekit.RoomService/${method}"`);
    }
  }

  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const m = /^\/twirp\/livekit\.RoomService\/([A-Za-z]+)$/.exec(req.url);
      const call = { method: m ? m[1] : req.url, body: null, claims: null, status: 0, authError: null, at: Date.now(), headers: req.headers };
      calls.push(call);
      if (req.method !== 'POST' || !m) {
        call.status = twirpError(res, 404, 'bad_route', `no handler for path "${req.url}"`);
        return;
      }
      const ct = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (ct !== 'application/json') {
        call.status = twirpError(res, 404, 'bad_route', `unexpected Content-Type: "${req.headers['content-type'] ?? ''}"`);
        return;
      }
      try {
        call.body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        call.status = twirpError(res, 400, 'malformed', 'the json request could not be decoded');
        return;
      }
      const v = verifyToken(req.headers.authorization, apiKey, apiSecret);
      call.claims = v.claims ?? null;
      if (v.error) {
        call.authError = v.error;
        call.status = 401;
        res.writeHead(401, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(v.error);
        return;
      }
      if (!hasGrant(call.method, v.claims, call.body)) {
        call.authError = 'permissions denied';
        call.status = twirpError(res, 401, 'unauthenticated', 'permissions denied');
        return;
      }
      if (stalled.has(call.method)) {
        call.status = 'stalled';
        pending.add(res);
        res.on('close', () => pending.delete(res));
        return;
      }
      const f = failures.get(call.method);
      if (f && f.length) {
        const e = f.shift();
        call.status = twirpError(res, e.status ?? 500, e.code ?? 'internal', e.msg ?? 'injected failure');
        call.injected = true;
        return;
      }
      call.status = handle(call.method, call.body, res);
    });
  });
  await new Promise((r) => server.listen(0, host, r));
  const { port } = server.address();

  return {
    url: `http://${host}:${port}`,
    calls,
    rooms,
    // Calls of one method that LiveKit would have acted on (auth passed).
    callsOf(method) {
      return calls.filter((c) => c.method === method && !c.authError);
    },
    failNext(method, n = 1, e = {}) {
      const list = failures.get(method) ?? [];
      for (let i = 0; i < n; i++) list.push(e);
      failures.set(method, list);
    },
    clearFailures() {
      failures.clear();
    },
    stall(method, on = true) {
      if (on) stalled.add(method);
      else stalled.delete(method);
    },
    setParticipants(room, list, { camel = false } = {}) {
      participants.set(room, { list: [...list], camel });
    },
    participants(room) {
      return (participants.get(room)?.list ?? []).map((p) => p.identity);
    },
    addRoom(name, o = {}) {
      const r = roomJson(name, o);
      rooms.set(name, r);
      return r;
    },
    async stop() {
      for (const res of pending) res.destroy();
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
}
