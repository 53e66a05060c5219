// Installs the ghaport agent for this runner: the release binary for its OS and architecture, checked against the
// SHA-256 sums that ship inside this action's own files (so a swapped release asset or a bad mirror is refused), and
// kept in the runner's tool cache in the layout @actions/tool-cache uses, so a later job on the same runner does not
// download it again. No dependencies: Node's own fetch, crypto and fs.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { ActionError } = require('./lib');

const TOOL = 'ghaport';

// The release's agent assets, by Node's process.platform and process.arch.
const ASSETS = new Map([
  ['linux x64', 'ghaport-linux-x64'],
  ['linux arm64', 'ghaport-linux-arm64'],
  ['darwin arm64', 'ghaport-osx-arm64'],
  ['win32 x64', 'ghaport-win-x64.exe'],
]);

// A release download takes seconds; this only keeps a stalled mirror from holding the job.
const DOWNLOAD_TIMEOUT_MS = 5 * 60_000;

// The agent is tens of megabytes; a response past this is not our binary, and must not fill the runner's disk.
const MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024;

// What this copy of the action knows about releases: { version, repository }, written by the release workflow.
function readRelease(actionDir) {
  const file = path.join(actionDir, 'release.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ActionError(`cannot read ${file}: ${err.message}`);
  }
}

// A release version (0.2.0, 1.0.0-rc.1, a leading v allowed). Checked before it becomes part of a file path or URL.
function parseVersion(text, source) {
  const match = /^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z][0-9A-Za-z.-]*)?)$/.exec(text);
  if (!match) {
    throw new ActionError(`${source} is '${text}'; expected a release version such as 0.2.0`);
  }
  return match[1];
}

// The asset for a platform and architecture, or an error naming them and the assets that exist.
function assetFor(platform, arch) {
  const asset = ASSETS.get(`${platform} ${arch}`);
  if (!asset) {
    const known = [...ASSETS].map(([key, name]) => `${key} (${name})`).join(', ');
    throw new ActionError(`no ghaport release binary for this runner's OS and architecture, ${platform} ${arch}; `
      + `the release has binaries for ${known} only`);
  }
  return asset;
}

// Versions this copy of the action has checksums for, to name in an error.
function knownVersions(actionDir) {
  try {
    return fs.readdirSync(path.join(actionDir, 'checksums'))
      .filter((name) => name.endsWith('.sha256')).map((name) => name.slice(0, -'.sha256'.length)).sort();
  } catch {
    return [];
  }
}

// The SHA-256 (lowercase hex) this action expects for one asset of one release, from
// checksums/<version>.sha256 (sha256sum format). No file or no line for the asset: refused, never "unchecked".
function expectedSha256(actionDir, version, asset) {
  const relative = `checksums/${version}.sha256`;
  let text;
  try {
    text = fs.readFileSync(path.join(actionDir, 'checksums', `${version}.sha256`), 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') {
      throw new ActionError(`cannot read ${relative} of this action: ${err.message}`);
    }
    const known = knownVersions(actionDir);
    throw new ActionError(`this copy of the action has no checksums for ghaport ${version} (no ${relative}), so it will not `
      + `install it: pin a newer commit of the action, or set 'version' to one it knows (${known.length ? known.join(', ') : 'none'})`);
  }
  for (const line of text.split(/\r?\n/)) {
    const match = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line);
    if (match && match[2] === asset) {
      return match[1].toLowerCase();
    }
  }
  throw new ActionError(`${relative} of this action lists no ${asset}, so it will not install it: `
    + `pin a newer commit of the action, or set 'version' to a release it has checksums for`);
}

// The base URL releases are downloaded from: the input, else GitHub releases of the repository this action came
// from (the runner names it for a `uses:` action), else the repository release.json names.
function downloadBase(inputText, release) {
  if (inputText) {
    let url;
    try {
      url = new URL(inputText);
    } catch {
      throw new ActionError(`input 'download-url' is '${inputText}'; expected an http or https URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new ActionError(`input 'download-url' is '${inputText}'; expected an http or https URL`);
    }
    // Never echo credentials back: they would land in the job's log.
    if (url.username || url.password) {
      throw new ActionError("input 'download-url' holds a user name or password; give a URL without credentials");
    }
    if (url.search || url.hash) {
      throw new ActionError(`input 'download-url' is '${inputText}'; a base URL takes no query or fragment `
        + '(files are fetched from <download-url>/v<version>/<asset>)');
    }
    return url.href.replace(/\/+$/, '');
  }
  const repository = process.env.GITHUB_ACTION_REPOSITORY || release.repository || '';
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)) {
    throw new ActionError(`cannot tell which repository's releases to download from ('${repository}'); set 'download-url'`);
  }
  return `https://github.com/${repository}/releases/download`;
}

// The tool cache entry for one version and architecture, as @actions/tool-cache lays it out:
// <RUNNER_TOOL_CACHE>/ghaport/<version>/<arch>/ and the marker file <arch>.complete beside it.
function cacheEntry(version, platform, arch) {
  const root = process.env.RUNNER_TOOL_CACHE;
  if (!root) {
    throw new ActionError('RUNNER_TOOL_CACHE is not set; this step expects a GitHub Actions runner');
  }
  const versionDir = path.join(root, TOOL, version);
  const dir = path.join(versionDir, arch);
  return {
    versionDir,
    dir,
    marker: `${dir}.complete`,
    binary: path.join(dir, platform === 'win32' ? 'ghaport.exe' : 'ghaport'),
  };
}

async function sha256OfFile(file) {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) {
    hash.update(chunk);
  }
  return hash.digest('hex');
}

// Why a fetch failed, in words: the timeout, or the network error under undici's "fetch failed".
function describeFetchError(url, err) {
  if (err.name === 'TimeoutError' || err.name === 'AbortError') {
    return `downloading ${url} did not finish within ${DOWNLOAD_TIMEOUT_MS / 1000} s`;
  }
  const cause = err.cause;
  const detail = cause ? [cause.code, cause.message].filter((p) => p).join(': ') : err.message;
  return `cannot download ${url}: ${detail}`;
}

// Streams url into file (created new, owner-only until verified), hashing on the way. Follows redirects, as GitHub's
// release URLs need (they answer 302 to a storage host). Returns the SHA-256, the size and where it came from.
async function download(url, file) {
  let response;
  try {
    response = await fetch(url, {
      redirect: 'follow',
      signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS),
      headers: { 'user-agent': 'ghaport-action', accept: 'application/octet-stream' },
    });
  } catch (err) {
    throw new ActionError(describeFetchError(url, err));
  }
  const from = response.url && response.url !== url ? `${url} (redirected to ${response.url})` : url;
  if (response.status === 404) {
    throw new ActionError(`${from} answered 404 Not Found: no such release or asset there. Check the 'version' input `
      + "(a release tagged v<version> must exist with this asset) and, for a mirror, 'download-url' "
      + '(files are fetched from <download-url>/v<version>/<asset>)');
  }
  if (!response.ok) {
    throw new ActionError(`downloading ${from} failed: HTTP ${response.status} ${response.statusText}`.trimEnd());
  }
  const length = Number(response.headers.get('content-length'));
  if (length > MAX_DOWNLOAD_BYTES) {
    throw new ActionError(`${from} is ${length} bytes, more than the ${MAX_DOWNLOAD_BYTES} a ghaport binary can be; refused`);
  }

  const hash = crypto.createHash('sha256');
  let size = 0;
  const out = await fs.promises.open(file, 'wx', 0o600);
  try {
    for await (const chunk of response.body ?? []) {
      size += chunk.length;
      if (size > MAX_DOWNLOAD_BYTES) {
        throw new ActionError(`${from} sent more than the ${MAX_DOWNLOAD_BYTES} bytes a ghaport binary can be; refused`);
      }
      hash.update(chunk);
      await out.write(chunk);
    }
  } catch (err) {
    throw err instanceof ActionError ? err : new ActionError(describeFetchError(from, err));
  } finally {
    await out.close();
  }
  return { sha256: hash.digest('hex'), size, from };
}

// Installs (or finds in the tool cache) the ghaport binary for this runner and returns its tool cache entry.
// Only a file whose SHA-256 matches this action's checksums is ever moved into the cache or run.
async function install({ actionDir, version: versionInput, downloadUrl, log }) {
  const release = readRelease(actionDir);
  const version = versionInput
    ? parseVersion(versionInput, "input 'version'")
    : parseVersion(String(release.version || ''), "the version in this action's release.json");
  const asset = assetFor(process.platform, process.arch);
  const expected = expectedSha256(actionDir, version, asset);
  const entry = cacheEntry(version, process.platform, process.arch);

  if (fs.existsSync(entry.marker) && fs.existsSync(entry.binary)) {
    // Cheap next to a download, and a cache someone tampered with is not run.
    const actual = await sha256OfFile(entry.binary);
    if (actual !== expected) {
      throw new ActionError(`the cached ${entry.binary} does not match its checksum (SHA-256 expected ${expected}, `
        + `actual ${actual}); refusing to run it. Delete ${entry.dir} and ${entry.marker} to download it again`);
    }
    log(`Using ghaport ${version} from the tool cache: ${entry.binary} (SHA-256 ${actual} verified)`);
    return entry;
  }

  const url = `${downloadBase(downloadUrl, release)}/v${version}/${asset}`;
  log(`Downloading ghaport ${version} for ${process.platform} ${process.arch} from ${url}`);
  fs.mkdirSync(entry.versionDir, { recursive: true });
  // Beside the cache entry, so the final move is one atomic rename on the same file system.
  const temp = path.join(entry.versionDir, `.${asset}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.download`);
  let got;
  try {
    got = await download(url, temp);
    if (got.sha256 !== expected) {
      throw new ActionError(`SHA-256 mismatch for ${got.from}: expected ${expected} (checksums/${version}.sha256 of `
        + `this action), actual ${got.sha256}; the file was deleted and nothing was installed`);
    }
    if (process.platform !== 'win32') {
      fs.chmodSync(temp, 0o755);
    }
    fs.mkdirSync(entry.dir, { recursive: true });
    fs.renameSync(temp, entry.binary);
  } finally {
    fs.rmSync(temp, { force: true });
  }
  // Marked complete only once the verified file is in place, as @actions/tool-cache does.
  fs.writeFileSync(entry.marker, '');
  log(`Verified SHA-256 ${expected} (${got.size} bytes); cached in ${entry.dir}`);
  return entry;
}

module.exports = { install, assetFor, parseVersion, ASSETS };
