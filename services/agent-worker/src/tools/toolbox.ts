import {
  ErrorCodes,
  errorMessage,
  isSwitchboardError,
  type Logger,
  TOOL_PROTOCOL_VERSION,
  type ToolErrorCode,
  type ToolInvoker,
  toolErrorCodes,
} from '@switchboard/core';
import type { ToolSpec } from '../models/provider.ts';
import {
  type LocalTool,
  LocalToolError,
  type ToolExecution,
  type ToolExecutor,
  type ToolOutcome,
} from './types.ts';

/** What OpenAI accepts as a function name; Ollama is laxer, so this is the rule for both. */
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** A tool's own error message is shown to the model; a runaway one is cut. */
const MAX_ERROR_CHARS = 1_000;

export interface ToolboxOptions {
  /** Built-in tools, served by the tool-runner over RPC. */
  invoker: ToolInvoker;
  /** Specs of the built-in tools, offered to the model when a route allows them. */
  builtin: ToolSpec[];
  /**
   * How long past a call's timeout the toolbox still waits for the invoker. Longer than the RPC
   * client's own grace (1 s), so its answer — the runner's partial output, or its own timeout
   * result — normally wins; this is the safety net for an invoker that never settles. Default 2 s.
   */
  replyGraceMs?: number;
  /** Where failures to reach the tool service are reported (the model only sees a plain reason). */
  log?: Logger;
}

export interface RejectedTool {
  name: string;
  reason: string;
}

/**
 * Every tool a worker can run: the built-in ones through the tool-runner, and skills' local tools
 * in-process. Local tools are replaced as a whole when the skills reload.
 */
export class Toolbox implements ToolExecutor {
  readonly #invoker: ToolInvoker;
  readonly #builtin: Map<string, ToolSpec>;
  readonly #replyGraceMs: number;
  readonly #log: Logger | undefined;
  #local = new Map<string, LocalTool>();

  constructor(opts: ToolboxOptions) {
    this.#invoker = opts.invoker;
    this.#builtin = new Map(opts.builtin.map((s) => [s.name, s]));
    this.#replyGraceMs = opts.replyGraceMs ?? 2_000;
    this.#log = opts.log;
  }

  /**
   * Replaces the local tools. A tool with an invalid name, or a name a built-in tool or an earlier
   * tool in the list already has, is left out and returned with the reason; the others are kept.
   */
  setLocalTools(tools: readonly LocalTool[]): RejectedTool[] {
    const next = new Map<string, LocalTool>();
    const rejected: RejectedTool[] = [];
    for (const tool of tools) {
      const name = tool?.spec?.name;
      if (typeof name !== 'string' || !TOOL_NAME.test(name)) {
        rejected.push({ name: String(name), reason: 'a tool name is 1-64 letters, digits, _ or -' });
      } else if (this.#builtin.has(name)) {
        rejected.push({ name, reason: `"${name}" is a built-in tool` });
      } else if (next.has(name)) {
        rejected.push({ name, reason: `another tool is already named "${name}"` });
      } else if (typeof tool.run !== 'function') {
        rejected.push({ name, reason: 'the tool has no run function' });
      } else {
        next.set(name, tool);
      }
    }
    this.#local = next;
    return rejected;
  }

  has(name: string): boolean {
    return this.#builtin.has(name) || this.#local.has(name);
  }

  specs(allowed: readonly string[]): ToolSpec[] {
    const out: ToolSpec[] = [];
    for (const name of new Set(allowed)) {
      const spec = this.#builtin.get(name) ?? this.#local.get(name)?.spec;
      if (spec) out.push(spec);
    }
    return out;
  }

  async execute(name: string, args: Record<string, unknown>, exec: ToolExecution): Promise<ToolOutcome> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const local = this.#local.get(name);
    if (local) return this.#runLocal(local, args, exec, elapsed);
    if (!this.#builtin.has(name)) return failure('TOOL_UNKNOWN', `there is no tool named "${name}"`, 0);
    return this.#invokeBuiltin(name, args, exec, elapsed);
  }

  async #invokeBuiltin(
    name: string,
    args: Record<string, unknown>,
    exec: ToolExecution,
    elapsed: () => number,
  ): Promise<ToolOutcome> {
    const call = Promise.resolve().then(() =>
      this.#invoker.invoke({
        v: TOOL_PROTOCOL_VERSION,
        id: exec.requestId,
        tool: name,
        arguments: args,
        caller: exec.caller,
        allowedTools: [...exec.allowedTools],
        timeoutMs: exec.timeoutMs,
      }),
    );
    try {
      const result = await withDeadline(call, exec.timeoutMs + this.#replyGraceMs);
      if (result === TIMED_OUT) return timeout(exec.timeoutMs, elapsed());
      const { v: _v, id: _id, ...outcome } = result;
      return outcome;
    } catch (err) {
      if (isSwitchboardError(err) && err.code === ErrorCodes.TIMEOUT)
        return timeout(exec.timeoutMs, elapsed());
      this.#log?.warn('tool service call failed', {
        trace: { id: exec.caller.traceId },
        labels: { tool: name },
        error: { message: errorMessage(err), ...(isSwitchboardError(err) ? { code: err.code } : {}) },
      });
      // NOTE: the RPC error may name the broker or queue; the model gets a plain reason instead.
      return failure('TOOL_UNAVAILABLE', 'the tool service could not be reached; try again later', elapsed());
    }
  }

  async #runLocal(
    tool: LocalTool,
    args: Record<string, unknown>,
    exec: ToolExecution,
    elapsed: () => number,
  ): Promise<ToolOutcome> {
    const ac = new AbortController();
    try {
      // A local tool that ignores its signal keeps running in the background, but the loop moves on.
      const run = Promise.resolve().then(() =>
        tool.run(args, { caller: exec.caller, signal: ac.signal, timeoutMs: exec.timeoutMs }),
      );
      const output = await withDeadline(run, exec.timeoutMs);
      if (output === TIMED_OUT) return timeout(exec.timeoutMs, elapsed());
      if (typeof output !== 'string') return failure('TOOL_FAILED', 'the tool returned no text', elapsed());
      return { ok: true, output, truncated: false, attachments: [], durationMs: elapsed() };
    } catch (err) {
      if (err instanceof LocalToolError && (toolErrorCodes as readonly string[]).includes(err.code))
        return failure(err.code, cap(err.message), elapsed());
      return failure('TOOL_FAILED', cap(errorMessage(err)), elapsed());
    } finally {
      ac.abort();
    }
  }
}

const TIMED_OUT = Symbol('timed out');

/** The promise's value, or TIMED_OUT when it has not settled after `ms`. */
async function withDeadline<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function failure(code: ToolErrorCode, message: string, durationMs: number): ToolOutcome {
  return { ok: false, output: '', truncated: false, error: { code, message }, attachments: [], durationMs };
}

function timeout(timeoutMs: number, durationMs: number): ToolOutcome {
  return failure('TOOL_TIMEOUT', `the tool did not finish within ${timeoutMs} ms`, durationMs);
}

function cap(message: string): string {
  return message.length > MAX_ERROR_CHARS ? `${message.slice(0, MAX_ERROR_CHARS)}…` : message;
}
