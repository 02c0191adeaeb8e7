import { execFile } from 'node:child_process';
import { ROOT } from '../../scripts/lib/spawn-service.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the backup CLI as an operator would, with only the given settings in its environment. */
export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'services/backup/src/cli.ts', ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    // stdin closed and not a terminal: the way a cron job or CI step runs it.
    child.stdin?.end();
  });
}
