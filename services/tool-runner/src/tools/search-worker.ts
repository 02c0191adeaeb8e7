import { Worker } from 'node:worker_threads';

export interface SearchJob {
  root: string;
  files: Array<{ abs: string; rel: string }>;
  query: string;
  regex: boolean;
  caseSensitive: boolean;
  maxResults: number;
  maxFileBytes: number;
}

export interface SearchHit {
  file: string;
  line: number;
  text: string;
}

export interface SearchOutcome {
  hits: SearchHit[];
  searched: number;
  skippedBinary: number;
}

/*
 * The matching runs in a worker thread that is terminated at the deadline: a regular expression
 * from the model can backtrack for minutes (ReDoS), and on the main thread that would stall every
 * other call. Plain JavaScript (evaluated, not a module file) so it runs the same from source and
 * from the bundle.
 */
const WORKER_SOURCE = `
const { parentPort, workerData: job } = require('node:worker_threads');
const fs = require('node:fs');
const sep = require('node:path').sep;
const flags = job.caseSensitive ? '' : 'i';
const re = job.regex ? new RegExp(job.query, flags) : undefined;
const needle = job.caseSensitive ? job.query : job.query.toLowerCase();
const matches = (line) => re ? re.test(line) : (job.caseSensitive ? line : line.toLowerCase()).includes(needle);
const hits = [];
let searched = 0;
let skippedBinary = 0;
for (const f of job.files) {
  if (hits.length >= job.maxResults) break;
  let fd;
  try {
    fd = fs.openSync(f.abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    let opened;
    try { opened = fs.readlinkSync('/proc/self/fd/' + fd); } catch {}
    if (opened !== undefined && opened !== job.root && !opened.startsWith(job.root + sep)) continue;
    if (!fs.fstatSync(fd).isFile()) continue;
    const buf = Buffer.alloc(job.maxFileBytes);
    const n = fs.readSync(fd, buf, 0, job.maxFileBytes, 0);
    const data = buf.subarray(0, n);
    searched++;
    if (data.subarray(0, 8192).includes(0)) { skippedBinary++; continue; }
    const lines = data.toString('utf8').split('\\n');
    for (let i = 0; i < lines.length && hits.length < job.maxResults; i++) {
      const line = lines[i].length > 2000 ? lines[i].slice(0, 2000) : lines[i];
      if (matches(line)) hits.push({ file: f.rel, line: i + 1, text: line.length > 300 ? line.slice(0, 300) + '…' : line });
    }
  } catch {
    // Vanished, or became a symlink since it was listed: not searched.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
parentPort.postMessage({ hits, searched, skippedBinary });
`;

export class SearchTimeoutError extends Error {}

/** Runs a search job; rejects with SearchTimeoutError when it is not done within `timeoutMs`. */
export function runSearch(job: SearchJob, timeoutMs: number, signal?: AbortSignal): Promise<SearchOutcome> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: job,
      resourceLimits: { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 32 },
      env: {},
    });
    let done = false;
    const finish = (err: unknown, out?: SearchOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      if (err) reject(err);
      else resolve(out!);
    };
    const onAbort = () => finish(new SearchTimeoutError('search stopped at the deadline'));
    const timer = setTimeout(() => finish(new SearchTimeoutError('search took too long')), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (m: SearchOutcome) => finish(undefined, m));
    worker.once('error', (err) => finish(err));
    worker.once('exit', (code) => finish(new Error(`search worker exited with code ${code}`)));
  });
}
