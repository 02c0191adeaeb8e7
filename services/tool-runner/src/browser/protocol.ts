import type { ToolCaller } from '@switchboard/core';
import { z } from 'zod';

/**
 * The render RPC between the tool-runner's browser tool and tool-browser, which runs Chromium.
 * It travels in the tool RPC's envelope (packages/core/src/broker/rpc.ts): the request as a
 * ToolRequest's arguments, the answer as a successful ToolResult's output (JSON), a failure as
 * its error. Both sides parse with these schemas; nothing else crosses.
 */
export const renderRequestSchema = z.strictObject({
  url: z.string().min(1).max(2048),
  fullPage: z.boolean(),
});
export type RenderRequest = z.infer<typeof renderRequestSchema>;

/** BROWSER_MAX_* of the side that checks: an answer over them is refused, never stored. */
export interface RenderLimits {
  maxTextBytes: number;
  maxScreenshotBytes: number;
}

/** Room for the truncation marker capText appends past maxTextBytes. */
const MARKER_ROOM = 128;
export const RENDER_MAX_BLOCKED_LISTED = 10;

export function renderAnswerSchema(l: RenderLimits) {
  return z.strictObject({
    title: z.string().max(1024),
    url: z.string().max(8192),
    status: z.number().int().min(0).max(999).nullable(),
    text: z
      .string()
      .refine(
        (t) => Buffer.byteLength(t, 'utf8') <= l.maxTextBytes + MARKER_ROOM,
        `the page text is over BROWSER_MAX_TEXT_BYTES (${l.maxTextBytes})`,
      ),
    truncated: z.boolean(),
    /** The first refused requests, as `<url> — <reason>`; blockedCount says how many in all. */
    blocked: z.array(z.string().max(1024)).max(RENDER_MAX_BLOCKED_LISTED),
    blockedCount: z.number().int().min(0),
    /** PNG, base64. */
    screenshot: z
      .base64()
      .max(
        Math.ceil(l.maxScreenshotBytes / 3) * 4,
        `the screenshot is over BROWSER_MAX_SCREENSHOT_BYTES (${l.maxScreenshotBytes})`,
      ),
  });
}
export type RenderAnswer = z.infer<ReturnType<typeof renderAnswerSchema>>;

/** What renders a page: Chromium in this process, or tool-browser over the broker. */
export interface Renderer {
  render(req: RenderRequest, ctx: RenderContext): Promise<RenderAnswer>;
  close(): Promise<void>;
}

export interface RenderContext {
  /** Aborted at the deadline. */
  signal: AbortSignal;
  /** Epoch ms. */
  deadline: number;
  /** The original tool call's caller, for the log lines of both sides (its trace id). */
  caller: ToolCaller;
}
