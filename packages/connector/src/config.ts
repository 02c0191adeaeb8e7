import { commonConfigShape, loadConfig } from '@switchboard/core';
import { z } from 'zod';

const csv = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
  );

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .default('true')
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Settings every connector shares, on top of the common ones; each platform adds its credentials. */
export const connectorConfigShape = {
  HTTP_PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(4),
  /** Slack wants its ack within 3 s; past this the platform gets a 503 and redelivers. */
  PUBLISH_TIMEOUT_MS: z.coerce.number().int().min(100).default(2_500),
  /** Body limit for webhook requests. */
  BODY_LIMIT_BYTES: z.coerce.number().int().min(1_024).default(1_048_576),
  /** In groups: answer only when mentioned / replied to (`mention`), or every message (`always`). */
  GROUP_POLICY: z.enum(['mention', 'always']).default('mention'),
  /**
   * Platform user ids that may talk to the bot. Under STRANGER_MODE=open a non-empty list refuses
   * everyone else (empty means everyone); under the other modes these users skip pairing and
   * everyone else goes through it.
   */
  ALLOWED_USERS: csv,
  /** How users who are neither allowlisted nor paired are treated: `open`, `verification_code`, `direct_block`. */
  STRANGER_MODE: z.enum(['open', 'verification_code', 'direct_block']).default('verification_code'),
  /** How long a pairing code (and its request) stays valid. */
  PAIRING_CODE_TTL_S: z.coerce.number().int().min(1).max(604_800).default(600),
  /** Wrong codes before the user is blocked. */
  PAIRING_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
  /** How long too many wrong codes, an expired request or an admin's denial block a user. */
  PAIRING_BLOCK_S: z.coerce.number().int().min(1).default(3_600),
  /** Attachments larger than this are not downloaded; the user is told. */
  ATTACHMENT_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(20 * 1024 * 1024),
  /** Tries of one send in the process (honouring retry-after) before the broker's delayed retries. */
  SEND_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
  /** Messages per second one bot sends, across all its chats. */
  SEND_RATE_PER_SEC: z.coerce.number().positive().max(1_000).default(20),
  /** A retry-after longer than this is not waited for in the process; the broker's delayed retry takes over. */
  MAX_RETRY_AFTER_MS: z.coerce.number().int().min(0).default(60_000),
  TYPING_INDICATOR: bool,
  /** Maximum characters of one inbound message; longer ones are refused politely. */
  MAX_MESSAGE_CHARS: z.coerce.number().int().min(1).max(200_000).default(32_000),
};

export const connectorConfigSchema = z.object({ ...commonConfigShape, ...connectorConfigShape });
export type ConnectorConfig = z.infer<typeof connectorConfigSchema>;

/** The whole config of one connector: shared keys plus the platform's own, validated once at start. */
export function loadConnectorConfig<S extends z.ZodRawShape>(
  platformShape: S,
  env: NodeJS.ProcessEnv = process.env,
) {
  return loadConfig(z.object({ ...commonConfigShape, ...connectorConfigShape, ...platformShape }), env);
}
