// media: LiveKit (livekit-client, loaded only here) with a video grid and
// mic/camera toggles. Every failure becomes a state the page can say plainly.
const CONNECT_TIMEOUT_MS = 12000;

export async function connect({ url, token, grid, mic, cam, onState }) {
  let lk;
  try {
    lk = await import('./livekit.js');
  } catch {
    onState('missing');
    return null;
  }
  lk.setLogLevel?.('warn');
  const room = new lk.Room({ adaptiveStream: true, dynacast: true });
  const tiles = new Map();
  const tile = (p) => {
    let t = tiles.get(p.identity);
    if (!t) {
      t = document.createElement('figure');
      t.className = 'tile';
      const cap = document.createElement('figcaption');
      cap.textContent = p.name || p.identity;
      t.append(cap);
      tiles.set(p.identity, t);
      grid.append(t);
    }
    return t;
  };
  const attach = (track, p) => {
    if (track.kind !== 'video' && track.kind !== 'audio') return;
    const el = track.attach();
    if (track.kind === 'video') tile(p).prepend(el);
    else tile(p).append(el);
  };
  room.on(lk.RoomEvent.TrackSubscribed, (track, _pub, p) => attach(track, p));
  room.on(lk.RoomEvent.TrackUnsubscribed, (track) => track.detach().forEach((e) => e.remove()));
  room.on(lk.RoomEvent.LocalTrackPublished, (pub) => attach(pub.track, room.localParticipant));
  room.on(lk.RoomEvent.ParticipantDisconnected, (p) => { tiles.get(p.identity)?.remove(); tiles.delete(p.identity); });
  // a connect that failed also ends in Disconnected: that stays 'unreachable'
  let up = false;
  room.on(lk.RoomEvent.Disconnected, () => { if (up) onState('disconnected'); });
  room.on(lk.RoomEvent.Reconnecting, () => onState('connecting'));
  room.on(lk.RoomEvent.Reconnected, () => onState('connected'));
  onState('connecting');
  let timer;
  try {
    await Promise.race([
      room.connect(url, token),
      new Promise((_, rej) => { timer = setTimeout(() => rej(new Error('timeout')), CONNECT_TIMEOUT_MS); }),
    ]);
  } catch {
    clearTimeout(timer);
    room.disconnect().catch(() => {});
    onState('unreachable');
    return null;
  }
  clearTimeout(timer);
  up = true;
  onState('connected');
  grid.replaceChildren(...tiles.values()); // the name tiles shown without media go
  tile(room.localParticipant);
  const ctl = {
    async setMic(on) { await room.localParticipant.setMicrophoneEnabled(on); },
    async setCam(on) { await room.localParticipant.setCameraEnabled(on); },
    remote() { return [...room.remoteParticipants.values()].map((p) => ({ identity: p.identity, name: p.name })); },
    disconnect() { room.disconnect().catch(() => {}); },
  };
  await Promise.allSettled([ctl.setMic(mic), ctl.setCam(cam)]);
  return ctl;
}
