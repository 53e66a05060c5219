// Post step (runs on success, failure and cancellation): `ghaport down` closes the lease at the broker and
// stops the background agent, which appends its summary table to the job's step summary. Cleanup must never
// turn a green job red, so a failure here is a warning only.
'use strict';

const lib = require('./lib');

// Bounds `ghaport down`, so a broker that does not answer cannot hold the job.
const DOWN_TIMEOUT_MS = 60_000;

// `ghaport down`'s exit code when the broker had already ended the lease (revoked, blocked, expired).
const LEASE_ENDED = 8;

function post() {
  if (process.env.STATE_started !== 'true') {
    console.log('ghaport was not started by this action; nothing to stop.');
    return;
  }

  // The main step saved the path it ran, which holds even when the tool was installed by that step.
  const ghaport = process.env.STATE_ghaport || 'ghaport';
  try {
    const code = lib.run(ghaport, ['down'], { timeoutMs: DOWN_TIMEOUT_MS });
    if (code === LEASE_ENDED) {
      lib.warning("the broker ended the lease before the job did ('ghaport down' says why; the step summary too)");
    } else if (code !== 0) {
      lib.warning(`'ghaport down' exited with code ${code}; the lease expires on its own at the broker`);
    }
  } catch (err) {
    lib.warning(`${err.message}; the lease expires on its own at the broker`);
  }
}

post();
process.exitCode = 0;
