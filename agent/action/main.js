// Main step: make sure ghaport is installed (the release binary, checksum-verified: see install.js), then open the
// port with `ghaport up --detach`, which returns once every forward is listening and each target has answered
// through the broker. The agent itself writes the step outputs (port, expires-at, lease-id) to GITHUB_OUTPUT and
// prints ::error:: when it fails.
'use strict';

const path = require('path');
const lib = require('./lib');
const { install } = require('./install');

// Extra time on top of ghaport's own --timeout before this step gives up on it: ghaport enforces the
// timeout itself, this only guarantees the step cannot hang.
const GRACE_SECONDS = 30;

async function main() {
  // Several brokers (instances of one deployment) as several lines or comma-separated: ghaport tries them in order.
  const brokers = lib.input('broker', { required: true })
    .split(/[\n,]/).map((b) => b.trim()).filter((b) => b !== '');
  if (brokers.length === 0) {
    throw new lib.ActionError("input 'broker' names no broker; expected a URL such as https://broker.example.com:8470");
  }
  const forwards = lib.input('forwards', { required: true })
    .split(/[\n,]/).map((f) => f.trim()).filter((f) => f !== '');
  if (forwards.length === 0) {
    throw new lib.ActionError("input 'forwards' names no forward; expected [BIND:]PORT:TARGET, e.g. 5432:prod-db");
  }
  const audience = lib.input('audience');
  const ttl = lib.input('ttl');
  const timeout = lib.toTimeSpan('timeout', lib.input('timeout') || '60s');
  const lane = lib.input('lane') || 'auto';
  if (!['auto', 'raw', 'grpc'].includes(lane)) {
    throw new lib.ActionError(`input 'lane' is '${lane}'; expected auto, raw or grpc`);
  }

  const args = ['up'];
  for (const broker of brokers) {
    args.push('--broker', broker);
  }
  for (const forward of forwards) {
    args.push('--forward', forward);
  }
  if (audience) {
    args.push('--audience', audience);
  }
  if (ttl) {
    args.push('--ttl', lib.toTimeSpan('ttl', ttl));
  }
  if (lane !== 'auto') {
    args.push('--lane', lane);
  }
  args.push('--detach', '--timeout', timeout);

  const ghaport = await ensureGhaport();

  // Saved before `up` runs: if the job is cancelled while it waits, the post step still cleans up.
  lib.saveState('started', 'true');
  lib.saveState('ghaport', ghaport);

  const code = lib.run(ghaport, args, { timeoutMs: (lib.totalSeconds(timeout) + GRACE_SECONDS) * 1000 });
  if (code !== 0) {
    // ghaport has already printed its own ::error:: line with the cause; the exit code says which one.
    process.exitCode = code;
  }
}

// The path of the ghaport command: the one on PATH when there is one, else the release binary for this runner,
// downloaded and checked against this action's checksums (or found in the tool cache), and put on PATH for later steps.
async function ensureGhaport() {
  const found = lib.findOnPath('ghaport');
  if (found) {
    console.log(`Using ${found}, found on PATH (the 'version' and 'download-url' inputs are not used)`);
    return found;
  }

  const entry = await install({
    actionDir: __dirname,
    version: lib.input('version'),
    downloadUrl: lib.input('download-url'),
    log: (line) => console.log(line),
  });
  process.env.PATH = entry.dir + path.delimiter + (process.env.PATH || '');
  lib.appendToRunnerFile('GITHUB_PATH', entry.dir);
  return entry.binary;
}

main().catch((err) => {
  if (!(err instanceof lib.ActionError)) {
    throw err;
  }
  lib.error(err.message);
  process.exitCode = 1;
});
