// shared-tools.mjs: runs the checking scripts of ../shared/<dir> (LiveKit's
// token/webhook verifiers, the NATS service-protocol checker) with this
// repository's own npm packages.
//
// shared/ is laid beside the checkout without write bits and without
// node_modules (CI gets it that way), so `npm install` cannot run there.
// stageSharedTools(dir) copies the directory's scripts into a throw-away
// folder and links tests/node_modules beside them: the scripts resolve
// their imports (livekit-server-sdk, @nats-io/*) from our lockfile. When
// shared/ already has its own node_modules, those are used as they are.
//
// Returns the folder to run the scripts from, or null when the scripts are
// absent (the caller must then fail or skip with a reason: optional-check.mjs).
import { cpSync, existsSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './stack.mjs';

const staged = new Map();

export function sharedDir(name) {
  return join(repoRoot, '..', 'shared', name);
}

export function stageSharedTools(name, src = sharedDir(name)) {
  if (!existsSync(src)) return null;
  if (existsSync(join(src, 'node_modules'))) return src;
  if (staged.has(src)) return staged.get(src);
  const dst = mkdtempSync(join(tmpdir(), `cx-shared-${name}-`));
  for (const f of readdirSync(src, { withFileTypes: true })) {
    if (f.name === 'node_modules') continue;
    cpSync(join(src, f.name), join(dst, f.name), { recursive: true });
  }
  symlinkSync(join(repoRoot, 'tests', 'node_modules'), join(dst, 'node_modules'), 'dir');
  staged.set(src, dst);
  return dst;
}
