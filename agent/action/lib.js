// Helpers shared by main.js and post.js. No dependencies: the action runs straight from the repository,
// so there is no node_modules and nothing to build.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

// The runner passes each input as INPUT_<NAME>: upper case, spaces to underscores, hyphens kept.
function input(name, { required = false } = {}) {
  const value = (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] || '').trim();
  if (required && value === '') {
    throw new ActionError(`input '${name}' is required`);
  }
  return value;
}

// A failure of the action itself (bad input, no binary for this runner, a failed or refused download), reported
// as one annotation.
class ActionError extends Error {}

// Workflow command data: the runner unescapes exactly %, CR and LF.
function escapeData(text) {
  return String(text).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function error(message) {
  console.log(`::error title=ghaport::${escapeData(message)}`);
}

function warning(message) {
  console.log(`::warning title=ghaport::${escapeData(message)}`);
}

// Appends one line to a runner file (GITHUB_STATE, GITHUB_PATH); a missing variable means "not in Actions".
function appendToRunnerFile(variable, line) {
  const file = process.env[variable];
  if (file) {
    fs.appendFileSync(file, line + os.EOL, { encoding: 'utf8' });
  }
}

// Post steps see state saved by the main step as STATE_<name>.
function saveState(name, value) {
  appendToRunnerFile('GITHUB_STATE', `${name}=${value}`);
}

// The full path of an executable on PATH, or null. Windows looks for NAME.exe first.
function findOnPath(name) {
  const names = process.platform === 'win32' ? [`${name}.exe`, name] : [name];
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    for (const candidate of names) {
      const file = path.join(dir || '.', candidate);
      try {
        fs.accessSync(file, fs.constants.X_OK);
        if (fs.statSync(file).isFile()) {
          return file;
        }
      } catch {
        // Not here; keep looking.
      }
    }
  }
  return null;
}

// Runs a command with the step's own standard streams and returns its exit code. A command that cannot
// start or runs past timeoutMs is an ActionError, so the step fails with a reason, never a hang.
function run(command, args, { timeoutMs } = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', timeout: timeoutMs, killSignal: 'SIGTERM' });
  if (result.error) {
    if (result.error.code === 'ETIMEDOUT') {
      throw new ActionError(`'${command} ${args[0]}' did not finish within ${Math.round(timeoutMs / 1000)} s`);
    }
    throw new ActionError(`cannot run '${command}': ${result.error.message}`);
  }
  // Killed by a signal: no exit code, but the step must still fail.
  return result.status === null ? 1 : result.status;
}

// A duration for ghaport's --ttl and --timeout, in the forms ghaport itself reads (90s, 30m, 2h, hh:mm:ss,
// d.hh:mm:ss), passed on as [d.]hh:mm:ss so an older ghaport reads it too. A bare number is refused, as by ghaport:
// TimeSpan alone would read "30" as thirty days.
function toTimeSpan(name, text) {
  if (/^(\d+\.)?\d{1,2}:\d{2}:\d{2}$/.test(text)) {
    return text;
  }
  const match = /^(\d+)(s|m|h)$/.exec(text);
  if (!match || Number(match[1]) <= 0) {
    const hint = /^\d+$/.test(text) ? ` has no unit; write ${text}s, ${text}m or ${text}h` : ' is not a positive duration';
    throw new ActionError(`input '${name}' is '${text}'${hint} (90s, 30m, 2h, hh:mm:ss or d.hh:mm:ss)`);
  }
  const seconds = Number(match[1]) * { s: 1, m: 60, h: 3600 }[match[2] || 's'];
  const pad = (n) => String(n).padStart(2, '0');
  const days = Math.floor(seconds / 86400);
  const clock = `${pad(Math.floor(seconds / 3600) % 24)}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
  return days > 0 ? `${days}.${clock}` : clock;
}

// Seconds in a value toTimeSpan produced, for our own safety timeouts.
function totalSeconds(timeSpan) {
  const [, days = '0', h, m, s] = /^(?:(\d+)\.)?(\d+):(\d+):(\d+)$/.exec(timeSpan);
  return ((Number(days) * 24 + Number(h)) * 60 + Number(m)) * 60 + Number(s);
}

module.exports = {
  ActionError, input, error, warning, appendToRunnerFile, saveState, findOnPath, run, toTimeSpan, totalSeconds,
};
