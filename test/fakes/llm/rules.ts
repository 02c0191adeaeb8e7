import { z } from 'zod';

export type Api = 'ollama' | 'openai';
export type Fault = '429' | '500' | 'hang' | 'malformed' | 'disconnect';

export interface ToolCallSpec {
  name: string;
  arguments: Record<string, unknown>;
  /**
   * Sent in place of `arguments`, as a broken model would write them: OpenAI gets this text as the
   * arguments string, Ollama gets it as a JSON string where an object belongs.
   */
  rawArguments?: string;
}

export interface Rule {
  match?: {
    api?: Api;
    /** Compared after dropping an Ollama `:latest` tag on both sides. */
    model?: string;
    /** Substring of the text of the last user message. */
    contains?: string;
  };
  reply?: string;
  toolCalls?: ToolCallSpec[];
  fault?: Fault;
  /** Value of the `retry-after` header sent with a `429` fault; default 1. */
  retryAfterSeconds?: number;
  /** Replaces the global latency for requests this rule answers. */
  latencyMs?: number;
  /** Pause between streamed chunks, for tests that need a stream still open mid-way. */
  chunkDelayMs?: number;
  /** The rule answers this many requests, then is skipped; unlimited when absent. */
  times?: number;
}

const nonNegative = z.number().finite().nonnegative();

// Strict objects so a typo in a standalone control request is a 400, not a rule that silently
// matches everything.
export const ruleSchema: z.ZodType<Rule> = z.strictObject({
  match: z
    .strictObject({
      api: z.enum(['ollama', 'openai']).optional(),
      model: z.string().optional(),
      contains: z.string().optional(),
    })
    .optional(),
  reply: z.string().optional(),
  toolCalls: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        arguments: z.record(z.string(), z.unknown()),
        rawArguments: z.string().optional(),
      }),
    )
    .optional(),
  fault: z.enum(['429', '500', 'hang', 'malformed', 'disconnect']).optional(),
  retryAfterSeconds: z.number().int().nonnegative().optional(),
  latencyMs: nonNegative.optional(),
  chunkDelayMs: nonNegative.optional(),
  times: z.number().int().nonnegative().optional(),
});

export const rulesSchema = z.array(ruleSchema);

/** Throws a readable message when `input` is not a valid rule list. */
export function parseRules(input: unknown): Rule[] {
  const parsed = rulesSchema.safeParse(input);
  if (!parsed.success) throw new Error(z.prettifyError(parsed.error));
  return parsed.data;
}

/** Ollama treats `name` and `name:latest` as the same model. */
export function normaliseModel(model: string): string {
  return model.endsWith(':latest') ? model.slice(0, -':latest'.length) : model;
}

interface Entry {
  rule: Rule;
  model: string | undefined;
  remaining: number;
}

export class RuleBook {
  #entries: Entry[] = [];

  set(rules: readonly Rule[]): void {
    this.#entries = parseRules(rules).map((rule) => ({
      rule,
      model: rule.match?.model === undefined ? undefined : normaliseModel(rule.match.model),
      remaining: rule.times ?? Number.POSITIVE_INFINITY,
    }));
  }

  /** First live rule matching the request; consumes one of its `times`. */
  take(api: Api, model: string, lastUserText: string): Rule | undefined {
    const entries = this.#entries;
    if (entries.length === 0) return undefined;
    const normalised = normaliseModel(model);
    for (const entry of entries) {
      if (entry.remaining <= 0) continue;
      const m = entry.rule.match;
      if (m !== undefined) {
        if (m.api !== undefined && m.api !== api) continue;
        if (entry.model !== undefined && entry.model !== normalised) continue;
        if (m.contains !== undefined && !lastUserText.includes(m.contains)) continue;
      }
      entry.remaining--;
      return entry.rule;
    }
    return undefined;
  }
}

/** Text of the last user message; OpenAI content-part arrays contribute their text parts. */
export function lastUserText(messages: readonly unknown[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const msg = messages[i] as { role?: unknown; content?: unknown } | null | undefined;
    if (msg === null || typeof msg !== 'object' || msg.role !== 'user') continue;
    return contentText(msg.content);
  }
  return '';
}

export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content as unknown[]) {
    if (part !== null && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') {
      text += (part as { text: string }).text;
    }
  }
  return text;
}
