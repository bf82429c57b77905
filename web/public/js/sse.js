// sse: Server-Sent Events over fetch (so the token goes in the
// Authorization header, and a 404 from a server without the events route is
// seen as such). Reconnects with Last-Event-ID after a drop.
// token: a string or a function returning the current one; onDenied (a
// 401/403) may renew it and answer true to try again.
export function subscribe(path, token, { onEvent, onState, onDenied }) {
  let stopped = false, lastId = null, ctl = null, delay = 1000, fails = 0;
  async function once() {
    ctl = new AbortController();
    const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${typeof token === 'function' ? token() : token}` };
    if (lastId) headers['Last-Event-ID'] = lastId;
    const r = await fetch(path, { headers, signal: ctl.signal, credentials: 'same-origin' });
    if (r.status === 404 || r.status === 405) return 'missing';
    if (!r.ok) return r.status === 401 || r.status === 403 ? 'denied' : 'retry';
    onState('live');
    delay = 1000;
    fails = 0;
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '', ev = { event: 'message', data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return 'retry';
      buf += value;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        if (line === '') {
          if (ev.data.length) {
            let data = ev.data.join('\n');
            try { data = JSON.parse(data); } catch { /* plain text */ }
            onEvent(ev.event, data);
          }
          ev = { event: 'message', data: [] };
        } else if (!line.startsWith(':')) {
          const c = line.indexOf(':');
          const k = c < 0 ? line : line.slice(0, c);
          const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (k === 'event') ev.event = v;
          else if (k === 'data') ev.data.push(v);
          else if (k === 'id') lastId = v;
        }
      }
    }
  }
  (async () => {
    while (!stopped) {
      let st;
      try { st = await once(); } catch { st = 'retry'; }
      if (stopped) return;
      if (st === 'denied' && onDenied && (await onDenied().catch(() => false))) continue;
      if (st === 'missing' || st === 'denied') { onState(st); return; }
      // a stream that drops once and comes straight back is not worth a word
      if (++fails >= 2) onState('reconnecting');
      await new Promise((res) => setTimeout(res, delay));
      delay = Math.min(delay * 2, 15000);
    }
  })();
  return () => { stopped = true; ctl?.abort(); };
}
