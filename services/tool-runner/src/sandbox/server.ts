import { chmod, realpath, rm, stat } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join, sep } from 'node:path';
import { errorMessage, type Logger, traceFields } from '@switchboard/core';
import { z } from 'zod';
import type { AllowedProgram } from './allowlist.ts';
import { checkAndConfine } from './check.ts';
import { execCommand } from './exec.ts';
import {
  MAX_REQUEST_BYTES,
  type SandboxResponse,
  type SandboxRunRequest,
  sandboxRequestSchema,
} from './protocol.ts';

export interface SandboxServerOptions {
  socketPath: string;
  /** Real path of the workspace: every command's working directory. */
  workspace: string;
  allowlist: AllowedProgram[];
  /** Each allowlisted program's real path, pinned at start (programs.ts). */
  programs: Map<string, string>;
  path: string;
  maxTimeoutMs: number;
  maxOutputBytes: number;
  maxConcurrent: number;
}

/** How long a client may take to send its one request line. */
const REQUEST_READ_TIMEOUT_MS = 10_000;

/**
 * The shell sandbox: a process of its own (in compose a container without network; in process
 * mode a child under a uid of its own) that runs catalogue commands for the tool-runner. It
 * re-checks every command against the catalogue itself, so a compromised tool-runner can still
 * run nothing else here.
 */
export class SandboxServer {
  private server: Server | undefined;
  private readonly running = new Set<AbortController>();

  constructor(
    private readonly o: SandboxServerOptions,
    private readonly log: Logger,
  ) {}

  get active(): number {
    return this.running.size;
  }

  async listen(): Promise<void> {
    // A socket file left by a previous (killed) sandbox would make listen fail with EADDRINUSE.
    await rm(this.o.socketPath, { force: true });
    const server = createServer((sock) => this.onConnection(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Owner and group only: the tool-runner is root (process mode) or shares the sandbox's user.
    await chmod(this.o.socketPath, 0o660);
    this.server = server;
  }

  /** Stops accepting and kills whatever still runs. */
  async close(): Promise<void> {
    for (const ac of this.running) ac.abort(new Error('sandbox shutting down'));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await rm(this.o.socketPath, { force: true });
  }

  private onConnection(sock: Socket): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let handled = false;
    const ac = new AbortController();
    // The runner hangs up when its caller's deadline passes: the command goes with it.
    sock.on('close', () => ac.abort(new Error('client went away')));
    sock.on('error', () => {});
    sock.setTimeout(REQUEST_READ_TIMEOUT_MS, () => {
      if (!handled) sock.destroy();
    });
    sock.on('data', (c: Buffer) => {
      if (handled) return;
      size += c.length;
      if (size > MAX_REQUEST_BYTES) {
        handled = true;
        return this.answer(sock, { status: 'error', message: 'request too large' });
      }
      chunks.push(c);
      if (c.indexOf(0x0a) === -1) return;
      handled = true;
      sock.setTimeout(0);
      const line = Buffer.concat(chunks).toString('utf8');
      void this.handle(line.slice(0, line.indexOf('\n')), ac).then((res) => this.answer(sock, res));
    });
  }

  private answer(sock: Socket, res: SandboxResponse): void {
    if (sock.destroyed) return;
    sock.end(`${JSON.stringify(res)}\n`);
  }

  private async handle(line: string, ac: AbortController): Promise<SandboxResponse> {
    let req: z.infer<typeof sandboxRequestSchema>;
    try {
      const parsed = sandboxRequestSchema.safeParse(JSON.parse(line));
      if (!parsed.success) return { status: 'error', message: z.prettifyError(parsed.error) };
      req = parsed.data;
    } catch (err) {
      return { status: 'error', message: `not JSON: ${errorMessage(err)}` };
    }
    if (req.op === 'ping') return { status: 'pong' };
    return this.run(req, ac);
  }

  /**
   * The caller's folder under the workspace, as a real path that must stay inside it (a symlink
   * planted where the folder belongs is refused). Without one: the workspace itself.
   */
  private async callerFolder(
    cwd: string | undefined,
  ): Promise<{ ok: true; dir: string } | { ok: false; reason: string }> {
    if (cwd === undefined) return { ok: true, dir: this.o.workspace };
    try {
      const dir = await realpath(join(this.o.workspace, cwd));
      if (!dir.startsWith(`${this.o.workspace}${sep}`))
        return { ok: false, reason: 'the working folder is outside the workspace' };
      if (!(await stat(dir)).isDirectory())
        return { ok: false, reason: 'the working folder is not a folder' };
      return { ok: true, dir };
    } catch {
      return { ok: false, reason: 'the working folder does not exist' };
    }
  }

  private async run(req: SandboxRunRequest, ac: AbortController): Promise<SandboxResponse> {
    const fields = {
      ...traceFields(req.traceId ?? req.id, { call_id: req.id }),
      process: { name: req.program, args_count: req.args.length },
    };
    const root = await this.callerFolder(req.cwd);
    if (!root.ok) {
      this.log.warn('command refused', { ...fields, error: { code: 'TOOL_REFUSED', message: root.reason } });
      return { status: 'refused', message: root.reason };
    }
    const check = await checkAndConfine(this.o.allowlist, root.dir, req.program, req.args);
    const executable = check.ok ? this.o.programs.get(req.program) : undefined;
    if (!check.ok || !executable) {
      const reason = check.ok ? `"${req.program}" was not found at start` : check.reason;
      this.log.warn('command refused', { ...fields, error: { code: 'TOOL_REFUSED', message: reason } });
      return { status: 'refused', message: reason };
    }
    if (this.running.size >= this.o.maxConcurrent) {
      return {
        status: 'busy',
        message: `the sandbox already runs ${this.o.maxConcurrent} commands; try again`,
      };
    }
    this.running.add(ac);
    try {
      const result = await execCommand({
        program: executable,
        name: req.program,
        args: check.args,
        cwd: root.dir,
        path: this.o.path,
        timeoutMs: Math.min(req.timeoutMs, this.o.maxTimeoutMs),
        maxOutputBytes: this.o.maxOutputBytes,
        signal: ac.signal,
      });
      const { spawnError, ...outcome } = result;
      this.log.info('command finished', {
        ...fields,
        process: { ...fields.process, exit_code: outcome.exitCode, signal: outcome.signal },
        event: { duration: outcome.durationMs * 1e6 },
        labels: {
          ...fields.labels,
          timed_out: String(outcome.timedOut),
          truncated: String(outcome.truncated),
        },
      });
      if (spawnError) return { status: 'error', message: spawnError };
      return { status: 'ok', result: outcome };
    } finally {
      this.running.delete(ac);
    }
  }
}
