import { commonConfigShape, loadConfig } from '@switchboard/core';
import { z } from 'zod';

export const webConfigSchema = z.object({
  ...commonConfigShape,
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  API_TOKENS: z
    .string({ error: 'is required: at least one API token (API_TOKENS or API_TOKENS_FILE)' })
    .transform((s, ctx) => {
      const tokens = s
        .split(/[,\n]/)
        .map((t) => t.trim())
        .filter(Boolean);
      if (tokens.length === 0 || tokens.some((t) => t.length < 16)) {
        ctx.addIssue({ code: 'custom', message: 'each token must be at least 16 characters' });
        return z.NEVER;
      }
      return tokens;
    }),
  WEB_BOT_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('web'),
  MAX_MESSAGE_CHARS: z.coerce.number().int().min(1).max(200_000).default(16_000),
  BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(262_144),
  CHAT_COMPLETIONS_TIMEOUT_MS: z.coerce.number().int().min(1000).default(120_000),
  ASSISTANT_MODEL_NAME: z.string().min(1).default('switchboard'),
  /** How long a publish may wait for the broker before the client gets a 503. */
  PUBLISH_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(5),
});

export type WebConfig = z.infer<typeof webConfigSchema>;

export const loadWebConfig = (env: NodeJS.ProcessEnv = process.env): WebConfig =>
  loadConfig(webConfigSchema, env);
