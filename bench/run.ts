/**
 * End-to-end benchmark: the whole stack as local processes (ingress-web, N agent workers) against
 * the local RabbitMQ and PostgreSQL, the fake model inside this process, load offered over the
 * public API (HTTP POST /v1/messages and/or the web-chat WebSocket) and every reply received on the
 * conversation's WebSocket. See bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { type ProcessStack, startProcessStack } from '../scripts/lib/process-stack.ts';
import { deleteBrokerPrefix } from '../test/support/infra.ts';
import { AMQP_URL, createDatabase, dropDatabase, pgTransactions } from './lib/db.ts';
import { cpuByComm, machineCpu, ProcSampler } from './lib/proc-stats.ts';
import { round, summarise } from './lib/stats.ts';

const USAGE = `usage: npm run bench -- [options]
  --json                   print one JSON object as the last stdout line (default: a table)
  --messages N             measured messages (default 2000)
  --concurrency C          conversations, each with its own WebSocket (default 50)
  --rate R                 open loop at R messages/s; without it, closed loop with C in flight
  --llm-latency-ms L       fake model latency (default 0)
  --workers W              agent-worker processes (default 2)
  --queue-type T           quorum | classic (default quorum)
  --transport T            http | ws | mixed (default mixed)
  --warmup N               warm-up messages, not counted (default 200)
  --drain-timeout-ms MS    how long to wait for replies after the last send (default 30000)
  --log-level L            LOG_LEVEL of the services (default warn)
  --env KEY=VALUE          extra environment for every service (repeatable), e.g. BROKER_PARTITIONS=16`;

const { values: a } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    messages: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '50' },
    rate: { type: 'string' },
    'llm-latency-ms': { type: 'string', default: '0' },
    workers: { type: 'string', default: '2' },
    'queue-type': { type: 'string', default: 'quorum' },
    transport: { type: 'string', default: 'mixed' },
    warmup: { type: 'string', default: '200' },
    'drain-timeout-ms': { type: 'string', default: '30000' },
    'log-level': { type: 'string', default: 'warn' },
    env: { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', default: false },
  },
});
if (a.help) {
  console.log(USAGE);
  process.exit(0);
}

function intArg(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer >= ${min}, got ${v}\n${USAGE}`);
    process.exit(2);
  }
  return n;
}
function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) {
    console.error(`--${name} must be one of ${allowed.join(', ')}, got ${v}\n${USAGE}`);
    process.exit(2);
  }
  return v as T;
}

const opt = {
  json: a.json,
  messages: intArg('messages', a.messages, 1),
  concurrency: intArg('concurrency', a.concurrency, 1),
  rate: a.rate === undefined ? undefined : Number(a.rate),
  llmLatencyMs: intArg('llm-latency-ms', a['llm-latency-ms'], 0),
  workers: intArg('workers', a.workers, 1),
  queueType: oneOf('queue-type', a['queue-type'], ['quorum', 'classic'] as const),
  transport: oneOf('transport', a.transport, ['http', 'ws', 'mixed'] as const),
  warmup: intArg('warmup', a.warmup, 0),
  drainTimeoutMs: intArg('drain-timeout-ms', a['drain-timeout-ms'], 100),
  logLevel: oneOf('log-level', a['log-level'], ['error', 'warn', 'info', 'debug'] as const),
  env: Object.fromEntries(
    a.env.map((kv) => {
      const i = kv.indexOf('=');
      if (i < 1) {
        console.error(`--env expects KEY=VALUE, got ${kv}`);
        process.exit(2);
      }
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
  ) as Record<string, string>,
};
if (opt.rate !== undefined && !(Number.isFinite(opt.rate) && opt.rate > 0)) {
  console.error(`--rate must be a positive number of messages per second, got ${a.rate}`);
  process.exit(2);
}

const runId = randomBytes(4).toString('hex');
const dbName = `sb_bench_${runId}`;
const prefix = `bench${runId}`;
const partitions = Number(opt.env.BROKER_PARTITIONS ?? 8);
const retryTiers = (opt.env.RETRY_DELAYS_MS ?? '1000,5000,30000').split(',').length;

const INFRA_COMMS = ['beam.smp', 'postgres'];

const say = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

// ---------------------------------------------------------------------------------------------
// HTTP client: undici's Pool when the package is installed, else global fetch (keep-alive too).

interface HttpPoster {
  name: string;
  post(body: string): Promise<{ status: number; text: string }>;
  close(): Promise<void>;
}

interface UndiciPool {
  request(o: {
    path: string;
    method: string;
    headers: Record<string, string>;
    body: string;
  }): Promise<{ statusCode: number; body: { text(): Promise<string> } }>;
  close(): Promise<void>;
}

async function httpPoster(baseUrl: string, token: string, connections: number): Promise<HttpPoster> {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  try {
    const spec = 'undici';
    const undici = (await import(spec)) as {
      Pool: new (url: string, o: { connections: number }) => UndiciPool;
    };
    const pool = new undici.Pool(baseUrl, { connections });
    return {
      name: 'undici.Pool',
      post: async (body) => {
        const r = await pool.request({ path: '/v1/messages', method: 'POST', headers, body });
        return { status: r.statusCode, text: await r.body.text() };
      },
      close: () => pool.close(),
    };
  } catch {
    const url = `${baseUrl}/v1/messages`;
    return {
      name: 'fetch',
      post: async (body) => {
        const r = await fetch(url, { method: 'POST', headers, body });
        return { status: r.status, text: await r.text() };
      },
      close: async () => {},
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Conversations and message bookkeeping.

interface Msg {
  id: string;
  phase: Phase;
  conv: number;
  /** When it was sent (closed loop) or was due to be sent (open loop), performance.now() ms. */
  sentAt: number;
  repliedAt?: number;
  replies: number;
  status?: string;
}

interface Conversation {
  index: number;
  id: string;
  ws: WebSocket;
}

class Phase {
  sent = 0;
  answered = 0;
  duplicated = 0;
  errorReplies = 0;
  sendErrors = 0;
  firstSendAt = Number.POSITIVE_INFINITY;
  lastSendAt = 0;
  lastReplyAt = 0;
  readonly latencies: number[] = [];
  onAnswered: (m: Msg) => void = () => {};

  constructor(
    readonly name: string,
    readonly total: number,
  ) {}

  get inFlight(): number {
    return this.sent - this.answered;
  }
}

const msgs = new Map<string, Msg>();
const conversations: Conversation[] = [];
let unknownReplies = 0;
let wsClosedUnexpectedly = 0;
let serviceWarnings = 0;
let stopping = false;

function onFrame(data: WebSocket.RawData): void {
  const f = JSON.parse(data.toString()) as {
    type: string;
    inReplyTo?: string;
    status?: string;
    clientId?: string;
    message?: string;
  };
  if (f.type === 'reply') {
    const now = performance.now();
    // inReplyTo is the envelope id, `web:<botId>:<client id>`; our client ids contain no ':'.
    const key = (f.inReplyTo ?? '').slice((f.inReplyTo ?? '').lastIndexOf(':') + 1);
    const m = msgs.get(key);
    if (!m) {
      unknownReplies++;
      return;
    }
    m.replies++;
    if (m.repliedAt !== undefined) {
      m.phase.duplicated++;
      return;
    }
    m.repliedAt = now;
    m.status = f.status;
    const p = m.phase;
    p.answered++;
    if (f.status !== 'ok') p.errorReplies++;
    p.lastReplyAt = now;
    p.latencies.push(now - m.sentAt);
    p.onAnswered(m);
  } else if (f.type === 'error') {
    const m = f.clientId ? msgs.get(f.clientId) : undefined;
    if (m) m.phase.sendErrors++;
    say(`error frame: ${f.message ?? JSON.stringify(f)}`);
  }
}

async function openConversation(webUrl: string, token: string, index: number): Promise<Conversation> {
  const id = `bench-${runId}-${index}`;
  const ws = new WebSocket(`${webUrl.replace(/^http/, 'ws')}/v1/ws`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready frame on ${id}`)), 10_000);
    ws.once('message', (data) => {
      clearTimeout(timer);
      const f = JSON.parse(data.toString()) as { type: string };
      if (f.type === 'ready') resolve();
      else reject(new Error(`expected ready on ${id}, got ${data.toString()}`));
    });
    ws.send(JSON.stringify({ type: 'auth', token, conversationId: id }));
  });
  ws.on('message', onFrame);
  ws.on('error', (err) => say(`socket ${id}: ${err.message}`));
  ws.on('close', (code) => {
    if (!stopping) {
      wsClosedUnexpectedly++;
      say(`socket ${id} closed (${code})`);
    }
  });
  return { index, id, ws };
}

// ---------------------------------------------------------------------------------------------
// Load generation.

let http: HttpPoster | undefined;
let msgSeq = 0;

function send(p: Phase, conv: Conversation, scheduledAt?: number): void {
  const k = p.sent++;
  const seq = msgSeq++;
  const id = `${p.name[0]}${runId}-${k}`;
  const m: Msg = { id, phase: p, conv: conv.index, sentAt: scheduledAt ?? performance.now(), replies: 0 };
  msgs.set(id, m);
  if (m.sentAt < p.firstSendAt) p.firstSendAt = m.sentAt;
  p.lastSendAt = performance.now();
  const text = `bench ${p.name} message ${k}`;
  const viaHttp = opt.transport === 'http' || (opt.transport === 'mixed' && seq % 2 === 0);
  if (viaHttp) {
    http!
      .post(JSON.stringify({ conversationId: conv.id, text, id }))
      .then((r) => {
        if (r.status !== 202) {
          p.sendErrors++;
          say(`POST /v1/messages → ${r.status}: ${r.text.slice(0, 200)}`);
        }
      })
      .catch((err: Error) => {
        p.sendErrors++;
        say(`POST /v1/messages failed: ${err.message}`);
      });
  } else {
    conv.ws.send(JSON.stringify({ type: 'message', text, id }));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs one phase to completion: every message answered, or nothing happened for the drain timeout
 * (closed loop: no reply and no send; open loop: counted from the last send once all are sent).
 */
async function runPhase(
  p: Phase,
  rate: number | undefined,
): Promise<'complete' | 'drain-timeout' | 'interrupted'> {
  const C = conversations.length;
  if (rate === undefined) {
    // Closed loop: one message in flight per conversation; the next leaves when its reply arrived.
    p.onAnswered = (m) => {
      if (p.sent < p.total) send(p, conversations[m.conv]!);
    };
    for (let i = 0; i < Math.min(C, p.total); i++) send(p, conversations[i]!);
  } else {
    // Open loop: message k is due at t0 + k/rate whatever the replies; latency counts from that due time.
    const interval = 1000 / rate;
    const t0 = performance.now() + 10;
    void (async () => {
      while (p.sent < p.total && !stopping) {
        const due = t0 + p.sent * interval;
        const now = performance.now();
        if (now < due) {
          await sleep(Math.max(1, Math.floor(due - now)));
          continue;
        }
        send(p, conversations[p.sent % C]!, due);
        // Catching up after a late timer: yield now and then so replies are still read.
        if (p.sent % 50 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
  }
  for (;;) {
    if (stopping) return 'interrupted';
    if (p.answered >= p.total) return 'complete';
    const now = performance.now();
    const quietSince = rate === undefined ? Math.max(p.lastSendAt, p.lastReplyAt) : p.lastSendAt;
    if ((rate === undefined || p.sent >= p.total) && now - quietSince > opt.drainTimeoutMs)
      return 'drain-timeout';
    await sleep(20);
  }
}

function progress(p: Phase, startedAt: number): NodeJS.Timeout {
  let lastAnswered = 0;
  const t = setInterval(() => {
    const secs = (performance.now() - startedAt) / 1000;
    say(
      `${p.name} ${secs.toFixed(0)}s sent=${p.sent}/${p.total} answered=${p.answered} in_flight=${p.inFlight} ` +
        `(+${p.answered - lastAnswered}/s)`,
    );
    lastAnswered = p.answered;
  }, 1000);
  t.unref();
  return t;
}

// ---------------------------------------------------------------------------------------------
// Set-up, run, clean-up.

let stack: ProcessStack | undefined;
let sampler: ProcSampler | undefined;
let dbCreated = false;
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    stopping = true;
    sampler?.stop();
    for (const c of conversations) c.ws.terminate();
    await http?.close().catch(() => {});
    if (stack) await stack.stop().catch((err: Error) => say(`stopping the stack: ${err.message}`));
    if (dbCreated)
      await dropDatabase(dbName).catch((err: Error) => say(`dropping ${dbName}: ${err.message}`));
    await deleteBrokerPrefix(prefix, partitions, retryTiers).catch((err: Error) =>
      say(`deleting broker prefix ${prefix}: ${err.message}`),
    );
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (cleaning) return;
    say(`${sig}: stopping and cleaning up…`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  say(
    `run ${runId}: database ${dbName}, broker prefix ${prefix}, ${opt.queueType} queues, ${opt.workers} workers`,
  );
  const databaseUrl = await createDatabase(dbName);
  dbCreated = true;
  stack = await startProcessStack({
    workers: opt.workers,
    model: 'fake',
    fakeLatencyMs: opt.llmLatencyMs,
    webPort: 0,
    bundled: true,
    env: {
      ...opt.env,
      AMQP_URL,
      DATABASE_URL: databaseUrl,
      API_TOKENS: randomBytes(24).toString('base64url'),
      BROKER_PREFIX: prefix,
      BROKER_QUEUE_TYPE: opt.queueType,
      LOG_LEVEL: opt.logLevel,
    },
    onLine: (svc, line) => {
      serviceWarnings++;
      if (serviceWarnings <= 50) process.stderr.write(`[${svc}] ${line}\n`);
      else if (serviceWarnings === 51) say('more service log lines are not shown');
    },
  });
  if (stopping) return 130;
  say(`stack up at ${stack.webUrl}: ${stack.services.map((s) => `${s.name}[${s.proc.pid}]`).join(', ')}`);
  sampler = new ProcSampler(stack.services.map((s) => ({ name: s.name, pid: s.proc.pid! }))).start();
  http = await httpPoster(stack.webUrl, stack.token, Math.min(opt.concurrency, 128));

  for (let i = 0; i < opt.concurrency; i += 50) {
    const batch = Array.from({ length: Math.min(50, opt.concurrency - i) }, (_, j) =>
      openConversation(stack!.webUrl, stack!.token, i + j),
    );
    conversations.push(...(await Promise.all(batch)));
  }
  say(`${conversations.length} conversations connected`);

  const warm = new Phase('warmup', opt.warmup);
  let warmEnd: string = 'complete';
  if (opt.warmup > 0) {
    const t = progress(warm, performance.now());
    warmEnd = await runPhase(warm, undefined);
    clearInterval(t);
    say(`warm-up ${warmEnd}: ${warm.answered}/${warm.sent} answered`);
    // Lets the last warm-up replies land and PostgreSQL flush its statistics before the window opens.
    await sleep(1100);
  }
  if (stopping) return 130;

  const p = new Phase('measured', opt.messages);
  const cpuBefore = sampler.snapshot();
  const benchCpuBefore = process.cpuUsage();
  const infraBefore = cpuByComm(INFRA_COMMS);
  const machineBefore = machineCpu();
  const pgBefore = await pgTransactions(dbName);
  const startedAt = performance.now();
  const t = progress(p, startedAt);
  const ended = await runPhase(p, opt.rate);
  clearInterval(t);
  const endedAt = ended === 'complete' ? p.lastReplyAt : performance.now();
  const cpuUsed = sampler.since(cpuBefore);
  const benchCpu = process.cpuUsage(benchCpuBefore);
  const infraAfter = cpuByComm(INFRA_COMMS);
  const machineAfter = machineCpu();
  const machineTotal = Math.max(1, machineAfter.total - machineBefore.total);
  // Backends report their counters at most once a second, hence the pause; approximate still.
  await sleep(1100);
  const pgAfter = await pgTransactions(dbName);
  if (ended === 'interrupted') return 130;
  say(`measured run ${ended}: ${p.answered}/${p.sent} answered`);

  const lat = summarise(p.latencies);
  const lost = [...msgs.values()].filter((m) => m.phase === p && m.repliedAt === undefined).length;
  const windowS = Math.max(1e-6, (endedAt - p.firstSendAt) / 1000);
  const servicesCpu = cpuUsed.reduce((x, y) => x + y, 0);
  const mb = (b: number) => round(b / 1024 / 1024, 1);
  const result = {
    messages: opt.messages,
    concurrency: opt.concurrency,
    rate_offered: opt.rate ?? null,
    transport: opt.transport,
    workers: opt.workers,
    queue_type: opt.queueType,
    llm_latency_ms: opt.llmLatencyMs,
    throughput_msgs_per_s: round(p.answered / windowS, 1),
    p50_ms: round(lat.p50),
    p95_ms: round(lat.p95),
    p99_ms: round(lat.p99),
    max_ms: round(lat.max),
    mean_ms: round(lat.mean),
    lost,
    duplicated: p.duplicated,
    cpu_ms_per_msg: round(servicesCpu / Math.max(1, p.sent), 3),
    peak_rss_mb: mb(sampler.peakTotalRssBytes),
    bench_client_cpu_ms: round((benchCpu.user + benchCpu.system) / 1000, 0),
    duration_s: round(windowS, 2),
    node: process.version,
    cpus: availableParallelism(),
    sent: p.sent,
    answered: p.answered,
    error_replies: p.errorReplies,
    send_errors: p.sendErrors,
    unknown_replies: unknownReplies,
    ws_closed: wsClosedUnexpectedly,
    service_log_lines: serviceWarnings,
    ended,
    warmup: opt.warmup,
    warmup_lost: warm.sent - warm.answered,
    log_level: opt.logLevel,
    http_client: http.name,
    // Context, not part of our services' numbers: the broker and database on the same machine.
    rabbitmq_cpu_ms: round((infraAfter['beam.smp'] ?? 0) - (infraBefore['beam.smp'] ?? 0), 0),
    postgres_cpu_ms: round((infraAfter.postgres ?? 0) - (infraBefore.postgres ?? 0), 0),
    machine_cpu_busy_pct: round((100 * (machineAfter.busy - machineBefore.busy)) / machineTotal, 0),
    machine_cpu_steal_pct: round((100 * (machineAfter.steal - machineBefore.steal)) / machineTotal, 0),
    pg_xact_per_msg: round((pgAfter - pgBefore) / Math.max(1, p.sent), 1),
    services: stack.services.map((s, i) => ({
      name: s.name,
      pid: s.proc.pid,
      cpu_ms: round(cpuUsed[i] ?? 0, 0),
      cpu_pct: round(((cpuUsed[i] ?? 0) / (windowS * 1000)) * 100, 0),
      peak_rss_mb: mb(sampler!.usage[i]!.peakRssBytes),
    })),
  };

  if (opt.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    const rows: Array<[string, unknown]> = Object.entries(result).filter(([k]) => k !== 'services');
    const w = Math.max(...rows.map(([k]) => k.length));
    console.log('\nSwitchboard end-to-end benchmark');
    for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v ?? '-'}`);
    console.log('\n  service          pid      cpu_ms   cpu_%   peak_rss_mb');
    for (const s of result.services) {
      console.log(
        `  ${s.name.padEnd(15)}  ${String(s.pid).padEnd(7)}  ${String(s.cpu_ms).padStart(7)}  ${String(s.cpu_pct).padStart(5)}  ${String(s.peak_rss_mb).padStart(11)}`,
      );
    }
  }
  if (lost > 0 || p.duplicated > 0) {
    say(`FAILED: lost=${lost} duplicated=${p.duplicated}`);
    return 1;
  }
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  say(`error: ${(err as Error).stack ?? String(err)}`);
  code = 2;
} finally {
  await cleanup();
}
process.exit(code);
