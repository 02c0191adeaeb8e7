import { builtinToolNames, commonConfigShape, loadConfig } from '@switchboard/core';
import { egressConfigShape } from '@switchboard/egress';
import { parseModelChain } from '@switchboard/models';
import { z } from 'zod';

const ms = (min: number, max: number, def: number) => z.coerce.number().int().min(min).max(max).default(def);

export const schedulerConfigSchema = z.object({
  ...commonConfigShape,
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(9105),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  /** Key prefix of BullMQ in Redis; the queue itself is `<BROKER_PREFIX>-workflows`. */
  BULLMQ_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ and - (at most 32)')
    .default('bull'),
  /** The folder of `*.yaml` workflows; watched, and re-read on every change. */
  WORKFLOWS_DIR: z.string().min(1).default('./workspace/workflows'),
  /** Safety net: workflows are re-read this often even without a file event or NOTIFY. */
  WORKFLOW_RELOAD_MS: ms(1_000, 86_400_000, 60_000),
  /** Runs one scheduler process executes at once. */
  WORKFLOW_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /**
   * Bearer token of the HTTP API: triggers any workflow (a manual run) and reads the run history.
   * Unset: the API answers 503 and only workflows with their own webhook token can be triggered.
   */
  WORKFLOW_WEBHOOK_TOKEN: z.string().min(24, 'at least 24 characters').optional(),
  /** Built-in tools workflow steps may call; a workflow using another one is refused at load. */
  WORKFLOW_TOOLS: z
    .string()
    .default(builtinToolNames.join(','))
    .transform((s, ctx) => {
      const names = s
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean);
      const unknown = names.filter((n) => !(builtinToolNames as readonly string[]).includes(n));
      if (unknown.length) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown tool(s) ${unknown.join(', ')}; known: ${builtinToolNames.join(', ')}`,
        });
        return z.NEVER;
      }
      return new Set(names);
    }),
  /** Timeout of one step attempt when the step sets no `timeout_ms`. */
  STEP_TIMEOUT_MS: ms(100, 600_000, 30_000),
  /** Strings in a step's output are cut at this many characters, in storage and for later steps. */
  STEP_OUTPUT_MAX_CHARS: ms(256, 1_048_576, 65_536),
  /** `http` steps: larger response bodies fail the step. */
  HTTP_STEP_MAX_BYTES: ms(1_024, 16_777_216, 1_048_576),
  /** `http` steps: redirects followed, each one judged by the egress policy again. */
  HTTP_STEP_MAX_REDIRECTS: z.coerce.number().int().min(0).max(10).default(5),
  ...egressConfigShape,
  /** Largest webhook body accepted. */
  WEBHOOK_BODY_MAX_BYTES: ms(256, 1_048_576, 65_536),
  /** Inbound messages wait at most this long for a scheduler in its queue (none running: dropped). */
  MESSAGE_TRIGGER_TTL_MS: ms(1_000, 86_400_000, 3_600_000),
  /** And at most this many; beyond, the oldest are dropped rather than slowing the message path. */
  MESSAGE_TRIGGER_MAX_QUEUED: ms(100, 1_000_000, 10_000),
  /** Time budget of one message-pattern test (a catastrophic pattern costs at most this). */
  MESSAGE_PATTERN_BUDGET_MS: ms(1, 1_000, 50),
  /** `prompt` steps: MODEL_CHAIN syntax of the agent-worker. Unset: prompt steps are refused at load. */
  MODEL_CHAIN: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (!s) return undefined;
      try {
        return parseModelChain(s);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  OLLAMA_URL: z.url().default('http://127.0.0.1:11434'),
  OPENAI_BASE_URL: z.url().default('https://api.openai.com/v1'),
  OPENAI_API_KEY: z.string().optional(),
  MODEL_TIMEOUT_MS: ms(100, 600_000, 60_000),
  MODEL_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  DB_POOL_SIZE: z.coerce.number().int().min(2).max(100).default(5),
});

export type SchedulerConfig = z.infer<typeof schedulerConfigSchema>;

export function loadSchedulerConfig(env: NodeJS.ProcessEnv = process.env): SchedulerConfig {
  return loadConfig(schedulerConfigSchema, env);
}
