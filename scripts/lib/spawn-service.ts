import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServiceProcess {
  readonly name: string;
  /** Every line the service wrote, for diagnostics. */
  readonly logs: string[];
  /** Base URL of its HTTP server, taken from its start-up log line. */
  readonly url: string;
  readonly proc: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

/** A port the kernel just handed out; free unless someone takes it in the next few milliseconds. */
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

/**
 * Starts one service from source as a child process (the process mode of the appliance) and
 * resolves once it answers /readyz. `onLine` sees every log line, e.g. to prefix and print it.
 */
export async function spawnService(
  name: string,
  env: Record<string, string>,
  o: {
    onLine?: (name: string, line: string) => void;
    readyTimeoutMs?: number;
    keepLogs?: number;
    /** Run the esbuild bundle in dist/ (what the image runs; `npm run build` first) instead of the source. */
    bundled?: boolean;
  } = {},
): Promise<ServiceProcess> {
  // The port is chosen here, not by the service, so it is known whatever the log level.
  const port = !env.HTTP_PORT || env.HTTP_PORT === '0' ? await freePort() : Number(env.HTTP_PORT);
  // SB_NODE_ARGS passes flags NODE_OPTIONS refuses, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile.
  const nodeArgs = (process.env.SB_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const args = [
    ...nodeArgs,
    ...(o.bundled
      ? [join(ROOT, 'dist', `${name}.mjs`)]
      : ['--import', 'tsx', `services/${name}/src/main.ts`]),
  ];
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      ...(o.bundled
        ? {
            SB_MIGRATIONS_DIR: join(ROOT, 'packages/core/migrations'),
            SB_WEB_PUBLIC_DIR: join(ROOT, 'services/ingress-web/src/public'),
          }
        : {}),
      ...env,
      HTTP_PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const keep = o.keepLogs ?? 5_000;
  const url = `http://127.0.0.1:${port}`;
  let buffered = '';
  const onData = (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      logs.push(line);
      if (logs.length > keep) logs.shift();
      o.onLine?.(name, line);
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
  const svc: ServiceProcess = {
    name,
    logs,
    proc,
    exited,
    url,
    kill: async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 30_000) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill(signal);
      // A stop that hangs must not hang its caller: escalate after the grace period.
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  const deadline = Date.now() + (o.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (dead) throw new Error(`${name} exited during start:\n${logs.slice(-30).join('\n')}`);
    if (Date.now() > deadline) {
      await svc.kill('SIGKILL');
      throw new Error(`${name} did not become ready in time:\n${logs.slice(-30).join('\n')}`);
    }
    const ok = await fetch(`${url}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return svc;
    await new Promise((r) => setTimeout(r, 50));
  }
}
