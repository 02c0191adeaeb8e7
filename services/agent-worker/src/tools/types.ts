import type { ToolCaller, ToolErrorCode, ToolResult } from '@switchboard/core';
import type { ToolSpec } from '../models/provider.ts';

/** What an in-process tool is given besides its arguments. */
export interface LocalToolContext {
  caller: ToolCaller;
  /** Aborted when the tool's timeout passes; a tool doing I/O passes it on. */
  signal: AbortSignal;
  /** The deadline `signal` enforces, for tools that pass a timeout to a library. */
  timeoutMs: number;
}

/**
 * A tool that runs inside the worker rather than in the tool-runner (skills add these). Offered to
 * the model next to the built-in tools; what `run` resolves to is fed back as the tool message, capped
 * like any tool output. `run` throws `LocalToolError` to answer with a stable code, any other error
 * is reported to the model as TOOL_FAILED with its message.
 */
export interface LocalTool {
  spec: ToolSpec;
  run(args: Record<string, unknown>, ctx: LocalToolContext): Promise<string>;
}

/** Thrown by a local tool to refuse or reject a call with a stable code instead of TOOL_FAILED. */
export class LocalToolError extends Error {
  constructor(
    readonly code: ToolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LocalToolError';
  }
}

/** How a call ended, as the audit stores it: `refused` calls never ran. */
export type ToolCallStatus = 'ok' | 'refused' | 'error' | 'timeout';

/** One tool call as the loop returns it and the audit stores it. */
export interface ToolCallRecord {
  /** Ours: the tool RPC request id and the audit row's key. */
  id: string;
  /** The provider's id, pairing the call with its result in the conversation. */
  callId: string;
  /** 1 for the calls of the model's first reply, 2 for the next, and so on. */
  round: number;
  /** Order within its round, from 0. */
  position: number;
  tool: string;
  /** As the model wrote them. May hold secrets a user typed: stored, never logged. */
  arguments: Record<string, unknown>;
  status: ToolCallStatus;
  errorCode?: ToolErrorCode;
  durationMs: number;
  /** UTF-8 size of the output the model was given. */
  outputBytes: number;
  truncated: boolean;
}

/** A call about to run, as the audit writes it before it runs (status `started`). */
export type ToolCallStart = Pick<
  ToolCallRecord,
  'id' | 'callId' | 'round' | 'position' | 'tool' | 'arguments'
>;

/** What running one call needs besides the call itself. */
export interface ToolExecution {
  /** Our id for the call: the RPC request id. */
  requestId: string;
  caller: ToolCaller;
  /** The tools offered for this turn; the tool-runner re-checks against it. */
  allowedTools: readonly string[];
  timeoutMs: number;
}

/** Runs tool calls; `Toolbox` is the implementation, the loop only needs this. */
export interface ToolExecutor {
  /** Whether a tool of this name exists at all (allowed or not). */
  has(name: string): boolean;
  /** The specs of the tools among `allowed` that exist, in the order of `allowed`. */
  specs(allowed: readonly string[]): ToolSpec[];
  /** Never throws: every failure comes back as a result with an error code. */
  execute(name: string, args: Record<string, unknown>, exec: ToolExecution): Promise<ToolOutcome>;
}

/** A tool result without the RPC envelope fields. */
export type ToolOutcome = Omit<ToolResult, 'v' | 'id'>;

export type ToolAttachment = ToolResult['attachments'][number];
