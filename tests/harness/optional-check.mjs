// optional-check.mjs: a check that needs something outside this repository
// (e.g. ../shared/livekit with its node_modules) must never count as passed
// when it cannot run.
//
//   const why = missing([{ path, what }, ...]);   // null when all exist
//   if (skipOrFail(t, why)) return;               // in a node:test test
//
// When the check cannot run, skipOrFail fails the test under CI (CI=true or
// CI=1, as CI systems set it: there the dependency is part of the set-up and
// its absence is a defect) and otherwise marks the test skipped with the
// reason, which node:test prints and counts ("# skipped N").
import { existsSync } from 'node:fs';

export function missing(requirements) {
  for (const { path, what } of requirements) {
    if (!existsSync(path)) return `${what} missing (${path})`;
  }
  return null;
}

export function inCI(env = process.env) {
  return env.CI === 'true' || env.CI === '1';
}

// Returns true when the caller must stop (the test was marked skipped);
// throws when running in CI; false when the check can run (why is null).
export function skipOrFail(t, why, env = process.env) {
  if (!why) return false;
  if (inCI(env)) throw new Error(`check cannot run: ${why}; under CI a check that cannot run fails`);
  t.skip(`cannot run: ${why}`);
  return true;
}
