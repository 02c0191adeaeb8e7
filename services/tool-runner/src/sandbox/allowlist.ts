import { basename } from 'node:path';

/** One allowlist entry: a program and the fixed arguments every call must start with. */
export interface AllowedCommand {
  program: string;
  prefix: string[];
}

/**
 * Programs that run other programs, code or connections handed to them in their arguments
 * (`find -exec`, `sed 's/x/y/e'`, `awk 'BEGIN{system(…)}'`, `env sh`, `tar --to-command`,
 * `git -c core.pager=…`, `ssh -o ProxyCommand=…`). Allowlisting one of them would allowlist
 * everything, so they are refused at start.
 */
const COMMAND_RUNNERS = new Set(
  [
    // shells and interpreters
    'sh bash dash zsh ksh mksh csh tcsh fish busybox toybox python node nodejs deno bun ruby php',
    'lua tclsh wish expect perl awk gawk mawk nawk sed ed vi vim nvim emacs nano',
    // run a command given as an argument
    'env xargs find sudo su doas pkexec runuser nice nohup timeout watch strace ltrace gdb script',
    'setsid stdbuf unshare nsenter chroot ionice taskset flock time systemd-run at batch crontab',
    'make git tar zip docker podman kubectl sqlite3 psql mysql less more man',
    // open connections or run a helper program (ssh -o ProxyCommand, rsync -e, wget --use-askpass)
    'ssh scp sftp rsync curl wget nc ncat netcat socat telnet',
  ]
    .join(' ')
    .split(' '),
);
const RUNNER_PATTERNS = [/^python[0-9.]*$/, /^perl[0-9.]*$/, /^ruby[0-9.]*$/, /^php[0-9.]*$/, /^lua[0-9.]*$/];

const BARE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
const ABSOLUTE_PATH = /^\/[A-Za-z0-9._+/-]{1,255}$/;

export const MAX_ARGS = 64;
export const MAX_ARG_CHARS = 4096;

export function isCommandRunner(program: string): boolean {
  const name = basename(program);
  return COMMAND_RUNNERS.has(name) || RUNNER_PATTERNS.some((p) => p.test(name));
}

/**
 * Parses `SHELL_ALLOWLIST`: comma-separated entries, each a program name (looked up on SHELL_PATH)
 * or an absolute path, optionally followed by fixed leading arguments separated by spaces:
 * `df,uptime,free,uname,systemctl status,/opt/checks/disk.sh`. Throws with the entry at fault.
 */
export function parseShellAllowlist(raw: string): AllowedCommand[] {
  const out: AllowedCommand[] = [];
  for (const entry of raw.split(',').map((e) => e.trim())) {
    if (!entry) continue;
    const [program = '', ...prefix] = entry.split(/\s+/);
    if (program.includes('/')) {
      if (!ABSOLUTE_PATH.test(program) || program.split('/').includes('..')) {
        throw new Error(`"${entry}": a program with a slash must be a plain absolute path`);
      }
    } else if (!BARE_NAME.test(program)) {
      throw new Error(`"${entry}": "${program}" is not a valid program name`);
    }
    if (isCommandRunner(program)) {
      throw new Error(
        `"${entry}": ${basename(program)} can run other programs, code or connections named in its arguments, so it cannot be allowlisted`,
      );
    }
    out.push({ program, prefix });
  }
  return out;
}

export type CommandCheck = { ok: true } | { ok: false; reason: string };

/** Describes the allowlist for a refusal message: what the model may call instead. */
export function describeAllowlist(allowed: AllowedCommand[]): string {
  if (allowed.length === 0) return 'no commands are allowed on this installation';
  return `allowed commands: ${allowed.map((a) => [a.program, ...a.prefix].join(' ')).join(', ')}`;
}

/**
 * Whether `program args…` may run. No shell ever sees the command, so metacharacters in the
 * arguments are plain text; the checks here are about which program runs and how it starts.
 */
export function checkCommand(allowed: AllowedCommand[], program: string, args: string[]): CommandCheck {
  if (program.includes('\0') || args.some((a) => a.includes('\0'))) {
    return { ok: false, reason: 'NUL bytes are not allowed in a command or its arguments' };
  }
  if (args.length > MAX_ARGS) return { ok: false, reason: `at most ${MAX_ARGS} arguments are allowed` };
  if (args.some((a) => a.length > MAX_ARG_CHARS)) {
    return { ok: false, reason: `an argument is longer than ${MAX_ARG_CHARS} characters` };
  }
  // A slash means a path: only ever the exact path an operator allowlisted, never a lookalike.
  const entries = allowed.filter((a) => a.program === program);
  if (entries.length === 0) {
    const hint = /[\s;|&$`<>(){}\n\\'"*?]/.test(program)
      ? ' (commands run without a shell: give the program name alone and its arguments in "args")'
      : '';
    return {
      ok: false,
      reason: `"${program.slice(0, 100)}" is not on the allowlist${hint}; ${describeAllowlist(allowed)}`,
    };
  }
  const fits = entries.some((e) => e.prefix.every((p, i) => args[i] === p));
  if (!fits) {
    const forms = entries.map((e) => [e.program, ...e.prefix].join(' ')).join(' | ');
    return { ok: false, reason: `${program} is allowed only as: ${forms} …` };
  }
  return { ok: true };
}
