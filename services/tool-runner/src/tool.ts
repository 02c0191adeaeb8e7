import type { BuiltinToolName, Logger, ToolErrorCode, ToolRequest, ToolResult } from '@switchboard/core';
import type { z } from 'zod';
import type { Workspace } from './tools/workspace.ts';

export type ToolAttachment = ToolResult['attachments'][number];

/** What a tool hands back when it ran; refusals and failures are thrown as {@link ToolError}. */
export interface ToolOutput {
  output: string;
  truncated?: boolean;
  attachments?: ToolAttachment[];
  /** Set when the tool ran but did not succeed (a command's non-zero exit); output is still shown. */
  error?: { code: ToolErrorCode; message: string };
}

export interface ToolRunContext {
  request: ToolRequest;
  /** Aborted at the request's deadline. */
  signal: AbortSignal;
  /** Epoch ms. */
  deadline: number;
  log: Logger;
  /**
   * The caller's own folder: one per conversation, one per workflow, derived from the verified
   * grant and caller, never from a path the model wrote. Created on first use.
   */
  workspace(): Promise<Workspace>;
}

/** One built-in tool: its argument schema (also its JSON Schema for the model) and its work. */
export interface Tool<S extends z.ZodType = z.ZodType> {
  readonly name: BuiltinToolName;
  readonly args: S;
  run(args: z.infer<S>, ctx: ToolRunContext): Promise<ToolOutput>;
}

/**
 * A call that did not run or did not finish, with the stable code and a message written for the
 * model (it reads it and may try something else). `output` carries partial output, e.g. of a
 * command killed at its timeout.
 */
export class ToolError extends Error {
  constructor(
    readonly code: ToolErrorCode,
    message: string,
    readonly partial?: { output: string; truncated: boolean },
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

export const refused = (message: string) => new ToolError('TOOL_REFUSED', message);

/** Milliseconds left until the deadline, bounded by the tool's own limit. */
export function budgetMs(ctx: Pick<ToolRunContext, 'deadline'>, toolLimitMs: number): number {
  return Math.max(0, Math.min(toolLimitMs, ctx.deadline - Date.now()));
}

/** Appended where output was cut, so neither the model nor a reader mistakes it for the whole. */
export function truncationMarker(limit: number, unit = 'bytes'): string {
  return `\n[… output truncated at ${limit} ${unit}]`;
}

/** Cuts text to at most `maxBytes` of UTF-8 without splitting a character, marking the cut. */
export function capText(text: string, maxBytes: number): { text: string; truncated: boolean } {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return { text, truncated: false };
  let end = maxBytes;
  // Back up over UTF-8 continuation bytes (10xxxxxx) so the last character stays whole.
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return { text: buf.subarray(0, end).toString('utf8') + truncationMarker(maxBytes), truncated: true };
}
