// livekit-webhook.mjs: build and sign LiveKit webhooks the way livekit-server
// does, for integration tests of the webhook daemon.
//
// Signing (livekit protocol webhook/resource_url_notifier.go send()):
//   sha = standard base64 (padded) of SHA-256(exact body bytes)
//   Authorization: <bare JWT> (no "Bearer"), HS256 with the key's secret,
//   payload {iss:<key>, exp:now+300, nbf:now, iat:now, sha256:<sha>}
//   Content-Type: application/webhook+json
// Two signers: signSdk() uses the official livekit-server-sdk AccessToken
// (at.sha256 = sha; toJwt()), signGo() builds the Go server's byte layout
// by hand (header {"alg":"HS256","typ":"JWT"}, claims in Go's order) and
// lets tests forge edge cases (expired, future nbf, other alg).
//
// Bodies: Go protojson shape (lowerCamelCase, fields in .proto order, int64
// as strings, zero values omitted, compact; `spaced` adds the one space
// after each ',' that some server builds emit).
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { AccessToken, WebhookReceiver } from 'livekit-server-sdk';

export const API_KEY = 'devkey';
export const API_SECRET = 'secret';

export function sha256B64(body) {
  return createHash('sha256').update(Buffer.from(body)).digest('base64');
}

const b64u = (s) => Buffer.from(s, 'utf8').toString('base64url');

// Go-server-style webhook JWT. opts: {now, ttl=300, nbf (absolute), exp
// (absolute), header (string), alg ('sha256'|'sha384'|'sha512'), claims
// (object replacing the payload entirely), sha (override)}.
export function signGo(body, { key = API_KEY, secret = API_SECRET, now = Math.floor(Date.now() / 1000), ttl = 300, nbf, exp, header, alg = 'sha256', claims, sha } = {}) {
  const hdr = header ?? '{"alg":"HS256","typ":"JWT"}';
  const payload = claims !== undefined
    ? JSON.stringify(claims)
    : JSON.stringify({ iss: key, exp: exp ?? now + ttl, nbf: nbf ?? now, iat: now, sha256: sha ?? sha256B64(body) });
  const input = `${b64u(hdr)}.${b64u(payload)}`;
  const sig = createHmac(alg, Buffer.from(secret, 'utf8')).update(input).digest('base64url');
  return `${input}.${sig}`;
}

// SDK-style webhook JWT: exactly what the official Node SDK mints.
export async function signSdk(body, { key = API_KEY, secret = API_SECRET, ttl = 300 } = {}) {
  const at = new AccessToken(key, secret, { ttl });
  at.sha256 = sha256B64(body);
  return at.toJwt();
}

// Runs the official SDK receiver on (body, auth); resolves to the event or throws.
export async function sdkReceive(body, auth, { key = API_KEY, secret = API_SECRET } = {}) {
  return new WebhookReceiver(key, secret).receive(Buffer.from(body).toString('utf8'), auth);
}

const B57 = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
export function lkId(prefix) {
  const b = randomBytes(12);
  return prefix + Array.from(b, (x) => B57[x % 57]).join('');
}

// Compact JSON like Go protojson; `spaced` puts one space after each ','.
export function goJson(v, spaced = false) {
  const sep = spaced ? ', ' : ',';
  if (Array.isArray(v)) return `[${v.map((x) => goJson(x, spaced)).join(sep)}]`;
  if (v && typeof v === 'object') {
    const parts = Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${JSON.stringify(k)}:${goJson(x, spaced)}`);
    return `{${parts.join(sep)}}`;
  }
  return JSON.stringify(v);
}

// Builds an event object in proto declaration order. o: {event, room, roomSid,
// identity, sid, name, joinedAt, kind ('EGRESS'...), state, trackSid,
// trackType ('VIDEO'...), id, createdAt (seconds)}. Zero values are omitted
// as Go does (kind STANDARD, state JOINING, track type AUDIO).
export function eventObject(o) {
  const createdAt = o.createdAt ?? Math.floor(Date.now() / 1000);
  const room = {
    sid: o.roomSid ?? 'RM_' + 'MjN8Q4xEaZ7v',
    name: o.room,
    emptyTimeout: 300,
    departureTimeout: 20,
    creationTime: String(createdAt - 60),
    creationTimeMs: String((createdAt - 60) * 1000 + 437),
    turnPassword: 'nY8bqk4D2Qx7Lm3pVz9aRc1TfWu6HjEs',
    enabledCodecs: [{ mime: 'audio/opus' }, { mime: 'video/VP8' }],
    numParticipants: o.event === 'participant_joined' ? 1 : undefined,
    version: { unixMicro: String((createdAt - 60) * 1000000 + 437123) },
  };
  const ev = { event: o.event, room };
  const isTrack = o.event.startsWith('track_');
  if (o.identity !== undefined) {
    ev.participant = isTrack
      ? { sid: o.sid, identity: o.identity }
      : {
          sid: o.sid,
          identity: o.identity,
          state: o.state ?? (o.event === 'participant_left' ? 'DISCONNECTED' : 'ACTIVE'),
          metadata: '{"role":"host"}',
          joinedAt: o.joinedAt !== undefined ? String(o.joinedAt) : undefined,
          joinedAtMs: o.joinedAt !== undefined ? String(o.joinedAt * 1000 + 88) : undefined,
          name: o.name,
          version: 2,
          permission: { canSubscribe: true, canPublish: true, canPublishData: true },
          kind: o.kind && o.kind !== 'STANDARD' ? o.kind : undefined,
          attributes: { team: 'blue' },
          disconnectReason: o.event === 'participant_left' ? 'CLIENT_INITIATED' : undefined,
        };
  }
  if (o.trackSid !== undefined) {
    ev.track = { sid: o.trackSid, type: o.trackType && o.trackType !== 'AUDIO' ? o.trackType : undefined, name: 'cam', source: 'CAMERA', mimeType: 'video/VP8', mid: '1' };
  }
  ev.id = o.id === null ? undefined : (o.id ?? lkId('EV_'));
  ev.createdAt = String(createdAt);
  return ev;
}

// The body bytes (Buffer) of an event, as LiveKit would send them.
export function eventBody(o, { spaced = false } = {}) {
  return Buffer.from(goJson(eventObject(o), spaced), 'utf8');
}

// Delivers a webhook through the gateway (POST /livekit/webhook) with
// LiveKit's headers. opts: {auth (default: Go-style signature), contentType}.
export async function postWebhook(stack, body, opts = {}) {
  const auth = opts.auth ?? signGo(body);
  const headers = { 'Content-Type': opts.contentType ?? 'application/webhook+json', 'User-Agent': 'LiveKit' };
  if (auth !== '') headers.Authorization = auth;
  return stack.http('POST', '/livekit/webhook', { body, headers });
}

// Delivers a webhook straight to the daemon on NATS (webhook.livekit),
// as the gateway forwards it: the exact body bytes, the bare header value.
export async function natsWebhook(stack, body, opts = {}) {
  const auth = opts.auth ?? signGo(body);
  return stack.natsRequest('webhook.livekit', {
    body: Buffer.from(body).toString('base64'),
    authorization: auth,
    content_type: opts.contentType ?? 'application/webhook+json',
  });
}
