import { spawn } from 'node:child_process';
import type { RunOutcome } from './protocol.ts';

export interface ExecOptions {
  /** The absolute path pinned at start. */
  program: string;
  /** The program's name, its argv[0] (what `ps` shows). */
  name: string;
  args: string[];
  cwd: string;
  /** Where programs are looked up; the only PATH the command sees. */
  path: string;
  timeoutMs: number;
  maxOutputBytes: number;
  signal?: AbortSignal;
}

/**
 * The whole environment a command gets: no variable of ours (database URLs, tokens) is inherited.
 * Pagers and colours are off because nobody reads the output on a terminal.
 */
export function commandEnv(path: string, home: string): NodeJS.ProcessEnv {
  return {
    PATH: path,
    HOME: home,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TERM: 'dumb',
    PAGER: 'cat',
    SYSTEMD_PAGER: '',
    SYSTEMD_COLORS: '0',
    NO_COLOR: '1',
  };
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    // A negative pid signals the whole process group the command leads (detached: true made it one).
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: everything in it has already exited.
  }
}

/**
 * Runs one program with its arguments as an array — never through a shell, so `;`, `|`, `$(…)` and
 * backticks are plain characters — in its own process group, which is killed as a whole at the
 * timeout, when the output passes the cap, when the caller aborts, and after the program exits (so
 * nothing it left in the background lives on).
 */
export function execCommand(o: ExecOptions): Promise<RunOutcome & { spawnError?: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(o.program, o.args, {
      argv0: o.name,
      cwd: o.cwd,
      env: commandEnv(o.path, o.cwd),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      shell: false,
      windowsHide: true,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    let timedOut = false;
    let spawnError: string | undefined;
    let settled = false;

    const onData = (c: Buffer) => {
      if (truncated) return;
      const room = o.maxOutputBytes - size;
      if (c.length > room) {
        chunks.push(c.subarray(0, room));
        size += room;
        truncated = true;
        // Whatever it prints beyond the cap is never shown: stop it rather than let it run on.
        killGroup(child.pid);
        return;
      }
      chunks.push(c);
      size += c.length;
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);

    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, o.timeoutMs);
    const onAbort = () => {
      timedOut = true;
      killGroup(child.pid);
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      killGroup(child.pid);
      resolve({
        exitCode,
        signal,
        output: Buffer.concat(chunks).toString('utf8'),
        truncated,
        timedOut,
        durationMs: Date.now() - started,
        spawnError,
      });
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnError =
        err.code === 'ENOENT'
          ? `${o.name}: ${o.program} is gone from the sandbox since it started`
          : `${o.name}: could not start (${err.code ?? err.message})`;
      finish(null, null);
    });
    // 'exit' fires when the program ends even if a background child still holds its pipes open;
    // killing the group then closes them, and 'close' delivers the rest of the output.
    child.on('exit', () => killGroup(child.pid));
    child.on('close', (code, sig) => finish(code, sig));
  });
}
