import { execFile } from 'node:child_process';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a program without a shell, so paths and URLs are never interpreted as shell syntax.
 * Rejects with the program's own stderr (last lines) on a non-zero exit.
 */
export function runCommand(
  program: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      program,
      args,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        const tail = stderr.trim().split('\n').slice(-5).join('\n');
        const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed' : tail || err.message;
        reject(new Error(`${program} failed: ${why}`));
      },
    );
  });
}
