import { commonConfigShape, loadConfig } from '@switchboard/core';
import { parseModelChain } from '@switchboard/models';
import { z } from 'zod';
import { knowledgeConfigShape } from './knowledge/config.ts';
import { limitsConfigShape } from './limits/config.ts';
import { routingConfigShape } from './routing/config.ts';
import { skillsConfigShape } from './skills/config.ts';
import { toolLoopConfigShape } from './tools/config.ts';

export const workerConfigSchema = z.object({
  ...commonConfigShape,
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(9101),
  MODEL_CHAIN: z.string().transform((s, ctx) => {
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
  MODEL_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  MODEL_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  SYSTEM_PROMPT: z.string().default('You are Switchboard, a helpful assistant for an operations team.'),
  CONTEXT_MAX_MESSAGES: z.coerce.number().int().min(1).max(500).default(20),
  CONTEXT_MAX_CHARS: z.coerce.number().int().min(100).default(12_000),
  SESSION_IDLE_MINUTES: z.coerce.number().min(0).default(60),
  /** How often a worker re-balances its share of the inbound partitions. */
  LEASE_INTERVAL_MS: z.coerce.number().int().min(50).default(1_000),
  DB_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(20),
  /** Whether the built-in tools (the tool-runner service over the broker) are offered at all. */
  TOOLS_ENABLED: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  ...toolLoopConfigShape,
  ...routingConfigShape,
  ...limitsConfigShape,
  ...skillsConfigShape,
  ...knowledgeConfigShape,
});

export type WorkerConfig = z.infer<typeof workerConfigSchema>;

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const cfg = loadConfig(workerConfigSchema, env);
  if (cfg.MODEL_CHAIN.some((m) => m.provider === 'openai') && !cfg.OPENAI_API_KEY) {
    // Local OpenAI-compatible servers (vLLM, LM Studio) accept any key; the SDK still needs one.
    cfg.OPENAI_API_KEY = 'unused';
  }
  return cfg;
}
