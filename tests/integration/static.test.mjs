// The gateway serves the web app (services/gateway/static.c): content types,
// cache headers, CSP, HEAD, 304, client-side routes, the API keeping every
// path it has, and no way out of WEB_ROOT (.., encodings, backslashes, NUL,
// symlinks, dotfiles, directories).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { startStack, freePort, sleep, buildDir } from '../harness/stack.mjs';

const SECRET = 'TOP-SECRET-OUTSIDE-THE-ROOT';

// Sends the path byte for byte (fetch would normalise "..", "%2e" and "\").
function raw(base, method, path, headers = {}) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const rq = http.request({ host: u.hostname, port: u.port, method, path, headers, insecureHTTPParser: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => { const buf = Buffer.concat(chunks); resolve({ status: res.statusCode, headers: res.headers, buf, text: buf.toString() }); });
    });
    rq.on('error', reject);
    rq.end();
  });
}

async function extraGateway(s, env) {
  const port = await freePort();
  const d = s.startDaemon('gateway', { HTTP_ADDR: `127.0.0.1:${port}`, ...env });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 150 && !d.exit; i++) {
    try {
      if ((await fetch(base + '/healthz')).ok) return { d, base };
    } catch { /* not yet */ }
    await sleep(100);
  }
  return { d, base };
}

let s, tmp, fixture;
before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cx-static-'));
  fixture = join(tmp, 'root');
  mkdirSync(join(fixture, 'sub'), { recursive: true });
  mkdirSync(join(fixture, 'vendor'));
  mkdirSync(join(tmp, 'outside'));
  writeFileSync(join(tmp, 'secret.txt'), SECRET);
  writeFileSync(join(tmp, 'outside', 'secret.txt'), SECRET);
  writeFileSync(join(fixture, 'index.html'), '<!doctype html><title>fixture</title>');
  writeFileSync(join(fixture, 'app.css'), 'body{}');
  writeFileSync(join(fixture, 'sub', 'mod.js'), 'export const x = 1;');
  writeFileSync(join(fixture, 'vendor', 'lib-1.2.3.mjs'), 'export const y = 2;');
  writeFileSync(join(fixture, '.secret.txt'), SECRET);
  writeFileSync(join(fixture, 'data.unknownext'), SECRET);
  symlinkSync(join(tmp, 'secret.txt'), join(fixture, 'link-out.txt'));
  symlinkSync('../secret.txt', join(fixture, 'rel-out.txt'));
  symlinkSync(join(tmp, 'outside'), join(fixture, 'dirlink'));
  symlinkSync('sub/mod.js', join(fixture, 'link-in.js'));
  s = await startStack();
});
after(async () => {
  await s?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('web app from the build (WEB_ROOT=auto)', () => {
  it('GET / is index.html with a strict CSP, nosniff, no-cache and an ETag', async () => {
    const r = await raw(s.url, 'GET', '/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.text, readFileSync(join(buildDir, 'web', 'index.html'), 'utf8'));
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.match(r.headers.etag, /^"[0-9a-f]+-[0-9a-f]+"$/);
    assert.ok(r.headers['x-request-id']);
    const csp = r.headers['content-security-policy'];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /style-src 'self';/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    // the API (self) and the LiveKit URL the media service hands out
    assert.match(csp, /connect-src 'self' ws:\/\/127\.0\.0\.1:7880 http:\/\/127\.0\.0\.1:7880;/);
    // no inline script in the page itself (the CSP would block it)
    assert.doesNotMatch(r.text, /<script(?![^>]*\bsrc=)[^>]*>/);
    assert.ok(!r.headers.connection || r.headers.connection === 'keep-alive');
  });

  it('If-None-Match answers 304 without a body; HEAD has the length and no body', async () => {
    const a = await raw(s.url, 'GET', '/index.html');
    const b = await raw(s.url, 'GET', '/index.html', { 'If-None-Match': a.headers.etag });
    assert.equal(b.status, 304);
    assert.equal(b.text, '');
    assert.equal(b.headers.etag, a.headers.etag);
    const c = await raw(s.url, 'GET', '/index.html', { 'If-None-Match': '"0-0"' });
    assert.equal(c.status, 200);
    const h = await raw(s.url, 'HEAD', '/index.html');
    assert.equal(h.status, 200);
    assert.equal(h.text, '');
    assert.equal(Number(h.headers['content-length']), Buffer.byteLength(a.text));
    assert.equal(h.headers['content-type'], 'text/html; charset=utf-8');
  });

  it('livekit-client is served from vendor/ under its version, immutable; the shim is not', async () => {
    const lib = readdirSync(join(buildDir, 'web', 'vendor')).find((f) => /^livekit-client-\d+\.\d+\.\d+\.mjs$/.test(f));
    assert.ok(lib, 'the build copied livekit-client into web/vendor');
    const r = await raw(s.url, 'GET', `/vendor/${lib}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.match(r.text, /Room/);
    const shim = await raw(s.url, 'GET', '/js/livekit.js');
    assert.equal(shim.status, 200);
    assert.equal(shim.headers['cache-control'], 'no-cache');
    assert.equal(shim.text.trim(), `export * from '/vendor/${lib}';`);
    const css = await raw(s.url, 'GET', '/css/app.css');
    assert.equal(css.status, 200);
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  });

  it('gzip: the build\'s precompressed twin for clients that accept it, the plain file otherwise', async () => {
    const lib = readdirSync(join(buildDir, 'web', 'vendor')).find((f) => /^livekit-client-[\d.]+\.mjs$/.test(f));
    const plain = await raw(s.url, 'GET', `/vendor/${lib}`);
    const gz = await raw(s.url, 'GET', `/vendor/${lib}`, { 'Accept-Encoding': 'br, gzip, deflate' });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gz.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(gz.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.match(gz.headers.vary, /Accept-Encoding/);
    assert.ok(gz.buf.length < plain.buf.length / 3, `${gz.buf.length} vs ${plain.buf.length}`);
    assert.ok(gunzipSync(gz.buf).equals(plain.buf), 'the same bytes once decompressed');
    assert.notEqual(gz.headers.etag, plain.headers.etag);
    assert.equal(plain.headers['content-encoding'], undefined);
    const refused = await raw(s.url, 'GET', `/vendor/${lib}`, { 'Accept-Encoding': 'gzip;q=0, identity' });
    assert.equal(refused.headers['content-encoding'], undefined);
    assert.ok(refused.buf.equals(plain.buf));
    const css = await raw(s.url, 'GET', '/css/app.css', { 'Accept-Encoding': 'gzip' });
    assert.equal(css.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(css.buf).toString(), readFileSync(join(buildDir, 'web', 'css', 'app.css'), 'utf8'));
    // files under 1 KB (index.html) have no twin: sent as they are
    const spa = await raw(s.url, 'GET', '/app/rooms', { 'Accept-Encoding': 'gzip' });
    assert.equal(spa.status, 200);
    assert.equal(spa.headers['content-encoding'], undefined);
    assert.equal(spa.text, readFileSync(join(buildDir, 'web', 'index.html'), 'utf8'));
    const direct = await raw(s.url, 'GET', `/vendor/${lib}.gz`);
    assert.equal(direct.status, 404, 'the .gz twins are not files of their own');
  });

  it('client-side routes (/app/..., /j/<code>) answer index.html; missing assets stay 404', async () => {
    const index = (await raw(s.url, 'GET', '/')).text;
    for (const p of ['/app', '/app/', '/app/rooms', '/app/rooms/6f1c7a52-4a4e-4e0e-9d2a-0a0a0a0a0a0a', '/j/abc-defg-hij', '/app/settings?tab=x']) {
      const r = await raw(s.url, 'GET', p);
      assert.equal(r.status, 200, p);
      assert.equal(r.headers['content-type'], 'text/html; charset=utf-8', p);
      assert.equal(r.text, index, p);
    }
    for (const p of ['/app/missing.js', '/js/missing.js', '/nope', '/nope.html']) {
      const r = await raw(s.url, 'GET', p);
      assert.equal(r.status, 404, p);
      assert.equal(r.headers['content-type'], 'application/json', p);
      assert.equal(JSON.parse(r.text).error, 'not_found', p);
    }
  });

  it('the API keeps every path: /rooms/x, /auth/..., /api/... are never files', async () => {
    let r = await raw(s.url, 'GET', '/rooms/xyz');
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.text).error, 'room_not_found');
    r = await raw(s.url, 'GET', '/rooms');
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.text).error, 'missing_auth');
    for (const p of ['/api/index.html', '/api/', '/api/v1/index.html', '/auth/index.html', '/rooms/index.html', '/livekit/index.html', '/healthz/index.html']) {
      r = await raw(s.url, 'GET', p);
      assert.equal(r.status, 404, p);
      assert.equal(r.headers['content-type'], 'application/json', p);
    }
    r = await raw(s.url, 'GET', '/healthz%00/x'); // not cut short at the NUL
    assert.equal(r.status, 404);
    r = await raw(s.url, 'GET', '/healthz');
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.text), { status: 'ok' });
    // methods other than GET/HEAD never reach the files
    for (const m of ['POST', 'PUT', 'DELETE']) {
      r = await raw(s.url, m, '/index.html');
      assert.equal(r.status, 404, m);
      assert.equal(r.headers['content-type'], 'application/json', m);
    }
  });
});

describe('WEB_ROOT pointing elsewhere: no way out of the root', () => {
  let g;
  before(async () => {
    g = await extraGateway(s, { WEB_ROOT: fixture, LIVEKIT_PUBLIC_URL: 'wss://media.example.test:7443/x' });
    assert.equal(g.d.exit, null, g.d.stderr);
  });

  it('serves the root\'s files with their types and cache policy', async () => {
    let r = await raw(g.base, 'GET', '/');
    assert.equal(r.status, 200);
    assert.match(r.text, /fixture/);
    assert.match(r.headers['content-security-policy'], /connect-src 'self' wss:\/\/media\.example\.test:7443 https:\/\/media\.example\.test:7443;/);
    r = await raw(g.base, 'GET', '/sub/mod.js');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/javascript; charset=utf-8');
    r = await raw(g.base, 'GET', '/vendor/lib-1.2.3.mjs');
    assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable');
    r = await raw(g.base, 'GET', '/link-in.js'); // a symlink that stays inside is fine
    assert.equal(r.status, 200);
    assert.equal(r.text, 'export const x = 1;');
  });

  it('refuses traversal, encodings, backslashes, NUL, symlinks out, dotfiles, directories', async () => {
    const attacks = [
      '/../secret.txt', '/sub/../../secret.txt', '/sub/../index.html', '/./index.html',
      '/%2e%2e/secret.txt', '/%2E%2E/secret.txt', '/sub/%2e%2e/%2e%2e/secret.txt', '/%2e%2e%2fsecret.txt',
      '/sub%2f..%2f..%2fsecret.txt', '/..%5csecret.txt', '/sub\\..\\..\\secret.txt', '/%5c..%5csecret.txt',
      '/secret.txt%00', '/%00../secret.txt', '/link-out.txt%00.js', '/index.html%00',
      '/link-out.txt', '/rel-out.txt', '/dirlink/secret.txt', '/.secret.txt', '/sub/.secret.txt',
      '/data.unknownext', '/sub', '/sub/', '/vendor/', '//index.html', '/sub//mod.js',
      '/%2fetc/passwd', '/..', '/...', '/%c0%ae%c0%ae/secret.txt', '/sub/mod.js/', '/index.html/.',
    ];
    for (const p of attacks) {
      const r = await raw(g.base, 'GET', p);
      assert.equal(r.status, 404, `${p} -> ${r.status} ${r.text.slice(0, 80)}`);
      assert.equal(r.headers['content-type'], 'application/json', p);
      assert.ok(!r.text.includes(SECRET), p);
      assert.ok(!/fixture|export const/.test(r.text), `${p}: no file content, no listing`);
    }
  });

  it('WEB_ROOT=off serves nothing; a WEB_ROOT that is no directory stops start-up', async () => {
    const off = await extraGateway(s, { WEB_ROOT: 'off' });
    assert.equal(off.d.exit, null, off.d.stderr);
    const r = await raw(off.base, 'GET', '/');
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.text).error, 'not_found');
    assert.equal((await raw(off.base, 'GET', '/app/rooms')).status, 404);
    const bad = await extraGateway(s, { WEB_ROOT: join(tmp, 'no-such-dir') });
    const e = await bad.d.exited;
    assert.equal(e.code, 2);
    assert.match(bad.d.stderr, /WEB_ROOT/);
    const badUrl = await extraGateway(s, { LIVEKIT_PUBLIC_URL: "ws://x'; script-src *" });
    assert.equal((await badUrl.d.exited).code, 2);
    assert.match(badUrl.d.stderr, /LIVEKIT_PUBLIC_URL/);
  });
});
