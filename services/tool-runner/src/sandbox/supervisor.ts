import { type ChildProcess, spawn } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage, type Logger } from '@switchboard/core';
import { sandboxCall } from './protocol.ts';

/**
 * How to start the sandbox entry point: from source under tsx (the flags this process got), or
 * the bundle built next to ours (dist/tool-runner-sandbox.mjs).
 */
export function sandboxCommand(): string[] {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = fromSource
    ? fileURLToPath(new URL('./main.ts', import.meta.url))
    : fileURLToPath(new URL('./tool-runner-sandbox.mjs', import.meta.url));
  return [process.execPath, ...process.execArgv, entry];
}

export interface SandboxSupervisorOptions {
  /** The environment the sandbox gets, and nothing else: it must not see our secrets. */
  env: Record<string, string>;
  /** The user and group the sandbox runs as: never the runner's (its environ holds our secrets). */
  user: { uid: number; gid: number };
  log: Logger;
  command?: string[];
  startTimeoutMs?: number;
}

/**
 * Process mode: runs the shell sandbox as a child under a uid of its own, on a unix socket in a
 * private temp directory it owns, restarts it if it dies, and stops it with us. Under its own uid
 * neither it nor its commands can read our /proc/<pid>/environ, signal us or write our files. The
 * child has no network isolation here — only the container deployment (network_mode: none) does.
 */
export class SandboxSupervisor {
  socketPath = '';
  private dir = '';
  private child: ChildProcess | undefined;
  private stopping = false;
  private restartDelay = 200;

  constructor(private readonly o: SandboxSupervisorOptions) {}

  async start(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'sb-sandbox-'));
    this.socketPath = join(this.dir, 'shell.sock');
    // Only the sandbox's user may create the socket here; we (root) connect whatever its mode.
    await chown(this.dir, this.o.user.uid, this.o.user.gid);
    await this.spawnChild();
  }

  private async spawnChild(): Promise<void> {
    const [cmd = process.execPath, ...args] = this.o.command ?? sandboxCommand();
    const child = spawn(cmd, args, {
      env: {
        ...this.o.env,
        SANDBOX_SOCKET: this.socketPath,
        SANDBOX_EXIT_WITH_PARENT: '1',
        SANDBOX_RUNNER_UID: String(process.getuid?.() ?? ''),
      },
      // libuv also drops our supplementary groups (setgroups) before it switches.
      uid: this.o.user.uid,
      gid: this.o.user.gid,
      // stdin stays open as a lifeline; its logs join ours on stdout/stderr.
      stdio: ['pipe', 'inherit', 'inherit'],
    });
    this.child = child;
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping) return;
      this.o.log.error('shell sandbox exited; restarting', {
        labels: { code: String(code), signal: String(signal) },
      });
      const delay = this.restartDelay;
      this.restartDelay = Math.min(delay * 2, 10_000);
      setTimeout(() => {
        if (!this.stopping) void this.spawnChild().catch(() => {});
      }, delay).unref();
    });
    const deadline = Date.now() + (this.o.startTimeoutMs ?? 15_000);
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`shell sandbox exited during start (code ${child.exitCode})`);
      }
      try {
        await this.ping();
        this.restartDelay = 200;
        return;
      } catch (err) {
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error(`shell sandbox did not start: ${errorMessage(err)}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async ping(): Promise<void> {
    const res = await sandboxCall(this.socketPath, { op: 'ping' }, AbortSignal.timeout(2_000));
    if (res.status !== 'pong') throw new Error(`unexpected sandbox answer: ${res.status}`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
