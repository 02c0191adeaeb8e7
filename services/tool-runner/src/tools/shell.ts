import { isAbsolute, relative, sep } from 'node:path';
import { type ShellArgs, shellArgs } from '@switchboard/tools';
import type { AllowedProgram } from '../sandbox/allowlist.ts';
import { checkAndConfine } from '../sandbox/check.ts';
import { type RunOutcome, SandboxUnavailableError, sandboxCall } from '../sandbox/protocol.ts';
import { Slots } from '../slots.ts';
import {
  budgetMs,
  refused,
  type Tool,
  ToolError,
  type ToolOutput,
  type ToolRunContext,
  truncationMarker,
} from '../tool.ts';

export interface ShellOptions {
  socketPath: string;
  /** The workspace's real path: paths in arguments are confined to it. */
  workspace: string;
  /** Set when the shell tool cannot run safely here (no sandbox user): every call gets this. */
  off?: string;
  allowlist: AllowedProgram[];
  timeoutMs: number;
  maxOutputBytes: number;
  /** The sandbox's SHELL_MAX_CONCURRENT: calls beyond it wait here instead of being told "busy". */
  maxConcurrent: number;
}

/** Characters that mean something to a shell; in a one-string command they show the model expected one. */
const SHELL_SYNTAX = /[;|&$`<>(){}\\'"*?\n\r]/;

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg);
}

/**
 * shell: runs a catalogue program in the sandbox. Checked here against the catalogue's rules (to
 * refuse early with the caller in the log) and again by the sandbox, which trusts nobody.
 */
export class ShellTool implements Tool<typeof shellArgs> {
  readonly name = 'shell' as const;
  readonly args = shellArgs;

  private readonly slots: Slots;

  constructor(private readonly o: ShellOptions) {
    this.slots = new Slots(o.maxConcurrent);
  }

  async run(a: ShellArgs, ctx: ToolRunContext): Promise<ToolOutput> {
    if (this.o.off) throw new ToolError('TOOL_UNAVAILABLE', this.o.off);
    let program = a.command;
    let args = a.args;
    if (args.length === 0 && /\s/.test(program.trim())) {
      if (SHELL_SYNTAX.test(program)) {
        throw refused(
          'commands run without a shell, so pipes, redirects, ";", "&&", "$(...)", backticks, quotes and globs do not work; give the program in "command" and each argument as an item of "args"',
        );
      }
      [program = '', ...args] = program.trim().split(/\s+/);
    }
    // The caller's own folder (its conversation's or workflow's): the command's working directory
    // and the only place its paths may point to.
    const folder = (await ctx.workspace()).root;
    const cwd = relative(this.o.workspace, folder);
    if (!cwd || cwd.startsWith('..') || isAbsolute(cwd))
      throw new ToolError('TOOL_FAILED', "the caller's folder is not inside the shell workspace");
    const check = await checkAndConfine(this.o.allowlist, folder, program, args);
    if (!check.ok) throw refused(check.reason);

    const line = `$ ${[program, ...args].map(quote).join(' ')}`;
    let release: () => void;
    try {
      release = await this.slots.acquire(ctx.signal);
    } catch {
      throw new ToolError('TOOL_TIMEOUT', `${program} waited for a free slot until the call's deadline`);
    }
    // The time waited for a slot counts against the call, not against the command.
    const limitMs = budgetMs(ctx, this.o.timeoutMs);
    let res: Awaited<ReturnType<typeof sandboxCall>>;
    try {
      res = await sandboxCall(
        this.o.socketPath,
        {
          op: 'run',
          id: ctx.request.id,
          traceId: ctx.request.caller.traceId,
          program,
          args,
          timeoutMs: Math.max(1, limitMs),
          cwd: cwd.split(sep).join('/'),
        },
        ctx.signal,
      );
    } catch (err) {
      if (ctx.signal.aborted)
        throw new ToolError('TOOL_TIMEOUT', `${program} was stopped at the call's deadline`);
      if (err instanceof SandboxUnavailableError) {
        throw new ToolError('TOOL_UNAVAILABLE', `the shell sandbox is not available (${err.message})`);
      }
      throw err;
    } finally {
      release();
    }
    switch (res.status) {
      case 'ok':
        return this.format(line, res.result, limitMs);
      case 'refused':
        throw refused(res.message);
      case 'busy':
        throw new ToolError('TOOL_UNAVAILABLE', res.message);
      case 'error':
        throw new ToolError('TOOL_FAILED', res.message);
      default:
        throw new ToolError('TOOL_FAILED', `unexpected sandbox answer ${res.status}`);
    }
  }

  private format(line: string, r: RunOutcome, limitMs: number): ToolOutput {
    const tail = r.truncated ? truncationMarker(this.o.maxOutputBytes) : '';
    const body = `${r.output}${tail}`;
    if (r.timedOut) {
      const output = `${line}\n${body}\n[killed after ${limitMs} ms]`;
      throw new ToolError('TOOL_TIMEOUT', `the command was killed after ${limitMs} ms`, {
        output,
        truncated: r.truncated,
      });
    }
    const status = r.exitCode !== null ? `exit code ${r.exitCode}` : `killed by ${r.signal}`;
    const output = `${line}\n${status}\n${body}`;
    if (r.exitCode === 0) return { output, truncated: r.truncated };
    // Stopped at the output cap is still a useful answer: the cap, not the program, ended it.
    if (r.truncated) return { output, truncated: true };
    return {
      output,
      truncated: false,
      error: { code: 'TOOL_FAILED', message: `the command ended with ${status}` },
    };
  }
}
