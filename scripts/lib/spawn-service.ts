import { type ChildProcess, spawn } from 'node:child_process';
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
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts one service from source as a child process (the process mode of the appliance) and
 * resolves once it answers /readyz. `onLine` sees every log line, e.g. to prefix and print it.
 */
export async function spawnService(
  name: string,
  env: Record<string, string>,
  o: { onLine?: (name: string, line: string) => void; readyTimeoutMs?: number; keepLogs?: number } = {},
): Promise<ServiceProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', `services/${name}/src/main.ts`], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const keep = o.keepLogs ?? 5_000;
  let url = '';
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
      if (!url) {
        const m = /"address":"(http:\/\/[^"]+)"/.exec(line);
        if (m) url = m[1]!.replace('0.0.0.0', '127.0.0.1');
      }
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
    get url() {
      return url;
    },
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  const deadline = Date.now() + (o.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (dead) throw new Error(`${name} exited during start:\n${logs.slice(-30).join('\n')}`);
    if (Date.now() > deadline) {
      await svc.kill('SIGKILL');
      throw new Error(`${name} did not become ready in time:\n${logs.slice(-30).join('\n')}`);
    }
    if (url) {
      const ok = await fetch(`${url}/readyz`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) return svc;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
