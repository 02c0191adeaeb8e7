import { z } from 'zod';
import type { ToolLoopSettings } from './loop.ts';

/** The bounds of the tool RPC protocol's `timeoutMs`. */
const MIN_TIMEOUT_MS = 100;
const MAX_TIMEOUT_MS = 600_000;

/** `browser=60000,shell=20000` → { browser: 60000, shell: 20000 }. */
export function parseToolTimeouts(spec: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([a-zA-Z0-9_-]{1,64})=(\d+)$/.exec(entry);
    if (!m) throw new Error(`"${entry}": expected tool=milliseconds, e.g. browser=60000`);
    const ms = Number(m[2]);
    if (ms < MIN_TIMEOUT_MS || ms > MAX_TIMEOUT_MS)
      throw new Error(`"${entry}": the timeout must be between ${MIN_TIMEOUT_MS} and ${MAX_TIMEOUT_MS} ms`);
    out[m[1]!] = ms;
  }
  return out;
}

/** The tool loop's settings, merged into the agent-worker's config schema. */
export const toolLoopConfigShape = {
  /** Model replies whose tool calls are run for one message; after that the model must answer without tools. */
  TOOL_MAX_ROUNDS: z.coerce.number().int().min(1).max(20).default(5),
  /** Calls in one model reply beyond this are refused (the model is told to call fewer at once). */
  TOOL_MAX_CALLS_PER_ROUND: z.coerce.number().int().min(1).max(32).default(8),
  /** How long one tool call may take unless TOOL_TIMEOUTS names the tool. */
  TOOL_TIMEOUT_MS: z.coerce.number().int().min(MIN_TIMEOUT_MS).max(MAX_TIMEOUT_MS).default(30_000),
  /** Per-tool timeouts, e.g. `browser=60000,shell=20000`. */
  TOOL_TIMEOUTS: z
    .string()
    .default('')
    .transform((s, ctx) => {
      try {
        return parseToolTimeouts(s);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  /** Tool output longer than this many characters is cut before the model reads it. */
  TOOL_OUTPUT_MAX_CHARS: z.coerce.number().int().min(256).max(1_000_000).default(16_000),
};

const toolLoopConfigSchema = z.object(toolLoopConfigShape);
export type ToolLoopConfig = z.infer<typeof toolLoopConfigSchema>;

export function toolLoopSettings(cfg: ToolLoopConfig): ToolLoopSettings {
  return {
    maxRounds: cfg.TOOL_MAX_ROUNDS,
    maxCallsPerRound: cfg.TOOL_MAX_CALLS_PER_ROUND,
    defaultTimeoutMs: cfg.TOOL_TIMEOUT_MS,
    timeoutsMs: cfg.TOOL_TIMEOUTS,
    outputMaxChars: cfg.TOOL_OUTPUT_MAX_CHARS,
  };
}
