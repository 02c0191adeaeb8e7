import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import pg from 'pg';
import { type FakeLlm, startFakeLlm } from '../../test/fakes/llm/server.ts';
import { ROOT } from '../../scripts/lib/spawn-service.ts';

/**
 * The process-mode stack for the benchmark.
 *
 * Why not scripts/lib/process-stack.ts: spawnService learns each service's URL from its
 * info-level "listening"/"started" log line and only then polls /readyz. The bench runs the
 * services at LOG_LEVEL=warn (they log every turn at info), so that line never comes and
 * startProcessStack times out after 30 s. Here every port is chosen up front and readiness is
 * polled on the known URL, whatever the log level. Otherwise it starts the same processes with
 * the same environment: ingress-web first, then the workers one after another.
 */

export const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://sbtest:sbtest@127.0.0.1:5432/postgres';
export const AMQP_URL = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export interface BenchService {
  name: string;
  url: string;
  proc: ChildProcess;
  /** The last lines it wrote (warnings and errors at the bench's log level). */
  logs: string[];
  exited: Promise<number | null>;
}

export interface BenchStack {
  webUrl: string;
  token: string;
  fakeLlm: FakeLlm;
  services: BenchService[];
  stop(): Promise<void>;
}

export interface BenchStackOptions {
  workers: number;
  fakeLatencyMs: number;
  databaseUrl: string;
  env: Record<string, string>;
  onLine?: (service: string, line: string) => void;
}

/** A port the kernel just handed out; free unless someone grabs it in the next few milliseconds. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function createDatabase(name: string): Promise<string> {
  const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE "${name}"`);
  } finally {
    await c.end();
  }
  const u = new URL(ADMIN_DATABASE_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function dropDatabase(name: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

async function spawnReady(
  name: string,
  env: Record<string, string>,
  port: number,
  onLine?: (service: string, line: string) => void,
): Promise<BenchService> {
  const proc = spawn(process.execPath, ['--import', 'tsx', `services/${name}/src/main.ts`], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, HTTP_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let buffered = '';
  const onData = (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      logs.push(line);
      if (logs.length > 200) logs.shift();
      onLine?.(name, line);
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  let dead = false;
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      dead = true;
      resolve(code);
    }),
  );
  const svc: BenchService = { name, url: `http://127.0.0.1:${port}`, proc, logs, exited };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (dead) throw new Error(`${name} exited during start:\n${logs.slice(-30).join('\n')}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${name} did not become ready in time:\n${logs.slice(-30).join('\n')}`);
    }
    const ok = await fetch(`${svc.url}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return svc;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stopService(s: BenchService, graceMs = 20_000): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  s.proc.kill('SIGTERM');
  const timer = setTimeout(() => s.proc.kill('SIGKILL'), graceMs);
  await s.exited;
  clearTimeout(timer);
}

export async function startBenchStack(o: BenchStackOptions): Promise<BenchStack> {
  const token = randomBytes(24).toString('base64url');
  const fakeLlm = await startFakeLlm({ latencyMs: o.fakeLatencyMs, recordCalls: false, acceptAnyModel: true });
  const env: Record<string, string> = {
    AMQP_URL,
    MODEL_CHAIN: 'ollama/fake-small',
    ...o.env,
    DATABASE_URL: o.databaseUrl,
    OLLAMA_URL: fakeLlm.url,
  };
  const services: BenchService[] = [];
  const stop = async () => {
    await Promise.all(services.map((s) => stopService(s)));
    await fakeLlm.close();
  };
  try {
    const web = await spawnReady('ingress-web', { ...env, API_TOKENS: token }, await freePort(), o.onLine);
    services.push(web);
    // One after another, as startProcessStack does, so each worker sees the others when taking partitions.
    for (let i = 0; i < o.workers; i++) {
      services.push(await spawnReady('agent-worker', env, await freePort(), o.onLine));
    }
    return { webUrl: web.url, token, fakeLlm, services, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
