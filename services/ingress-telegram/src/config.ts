import { loadConnectorConfig } from '@switchboard/connector';
import { ErrorCodes, SwitchboardError } from '@switchboard/core';
import { z } from 'zod';

export const telegramConfigShape = {
  /** From @BotFather. */
  TELEGRAM_BOT_TOKEN: z
    .string()
    .regex(/^\d+:[A-Za-z0-9_-]{20,}$/, 'must look like 123456:ABC… (from @BotFather)'),
  /** `webhook` behind nginx (preferred in production) or `polling` (no public URL needed). */
  TELEGRAM_MODE: z.enum(['webhook', 'polling']).default('polling'),
  /** Sent by Telegram in X-Telegram-Bot-Api-Secret-Token on every webhook call. */
  TELEGRAM_WEBHOOK_SECRET: z
    .string()
    .regex(/^[A-Za-z0-9_-]{16,256}$/, '16-256 characters of A-Z, a-z, 0-9, _ and -')
    .optional(),
  /** Public HTTPS URL of the webhook; when set it is registered with setWebhook at start. */
  TELEGRAM_WEBHOOK_URL: z.url().optional(),
  TELEGRAM_API_ROOT: z.url().default('https://api.telegram.org'),
  /** Long-polling wait, in seconds. */
  TELEGRAM_POLL_TIMEOUT_S: z.coerce.number().int().min(0).max(50).default(25),
};

export function loadTelegramConfig(env: NodeJS.ProcessEnv = process.env) {
  const cfg = loadConnectorConfig(telegramConfigShape, env);
  if (cfg.TELEGRAM_MODE === 'webhook' && !cfg.TELEGRAM_WEBHOOK_SECRET) {
    // Without the secret anyone who finds the URL could post updates as if they were Telegram.
    throw new SwitchboardError(
      ErrorCodes.CONFIG_INVALID,
      'invalid configuration:\n  TELEGRAM_WEBHOOK_SECRET: is required when TELEGRAM_MODE=webhook',
    );
  }
  return cfg;
}
export type TelegramConfig = ReturnType<typeof loadTelegramConfig>;
