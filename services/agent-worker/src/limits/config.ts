import { z } from 'zod';

/**
 * One budget shared by every worker: the models whose label matches `pattern` (exact, or a glob
 * with `*`) together make at most `rate` calls per `windowMs` and hold at most `concurrency` calls
 * at once. `ollama/*` is one budget for all Ollama models (one GPU); write one line per model for
 * per-model provider quotas.
 */
export interface ModelLimitRule {
  pattern: string;
  /** Calls admitted per window; undefined: no rate limit. */
  rate?: number;
  windowMs?: number;
  concurrency?: number;
}

const OPTION = /^(rps|rpm|concurrency)=(\d+(?:\.\d+)?)$/;

/**
 * `openai/gpt-4o-mini:rps=2,concurrency=3;ollama/*:concurrency=2;openai/*:rpm=500`. Model labels
 * contain colons (`ollama/qwen2.5:0.5b`), so the options start after the last one.
 */
export function parseModelLimits(spec: string): ModelLimitRule[] {
  const rules: ModelLimitRule[] = [];
  for (const raw of spec.split(';')) {
    const entry = raw.trim();
    if (!entry) continue;
    const colon = entry.lastIndexOf(':');
    if (colon < 1) throw new Error(`"${entry}": expected model:option=value, e.g. ollama/*:concurrency=2`);
    const pattern = entry.slice(0, colon).trim();
    const rule: ModelLimitRule = { pattern };
    for (const opt of entry.slice(colon + 1).split(',')) {
      const m = OPTION.exec(opt.trim());
      if (!m) throw new Error(`"${entry}": "${opt.trim()}" is not rps=N, rpm=N or concurrency=N`);
      const n = Number(m[2]);
      if (!(n > 0)) throw new Error(`"${entry}": ${m[1]} must be positive`);
      if (m[1] === 'concurrency') {
        if (!Number.isInteger(n)) throw new Error(`"${entry}": concurrency must be a whole number`);
        rule.concurrency = n;
      } else if (rule.rate !== undefined) {
        throw new Error(`"${entry}": give rps or rpm, not both`);
      } else if (m[1] === 'rpm') {
        if (!Number.isInteger(n)) throw new Error(`"${entry}": rpm must be a whole number`);
        rule.rate = n;
        rule.windowMs = 60_000;
      } else if (Number.isInteger(n)) {
        rule.rate = n;
        rule.windowMs = 1_000;
      } else {
        // rps=0.5: one call every two seconds.
        rule.rate = 1;
        rule.windowMs = Math.ceil(1_000 / n);
      }
    }
    if (rules.some((r) => r.pattern === pattern)) throw new Error(`"${pattern}" is listed twice`);
    rules.push(rule);
  }
  return rules;
}

/** Model limits, the response cache and token usage; merged into the agent-worker's config schema. */
export const limitsConfigShape = {
  /** Redis for the limits shared by all workers and the response cache. */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  /** Per-model budgets shared by every worker, e.g. `openai/gpt-4o-mini:rps=2,concurrency=3;ollama/*:concurrency=2`. */
  MODEL_LIMITS: z
    .string()
    .default('')
    .transform((s, ctx) => {
      try {
        return parseModelLimits(s);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  /** How long a call waits for its model's budget before it counts as rate limited (the chain moves on). */
  MODEL_LIMIT_MAX_WAIT_MS: z.coerce.number().int().min(0).default(30_000),
  /** A crashed worker's concurrency slots free up after this; live workers renew theirs. */
  MODEL_LIMIT_LEASE_MS: z.coerce.number().int().min(1_000).default(15_000),
};
