import { loadConnectorConfig } from '@switchboard/connector';
import { z } from 'zod';

export const discordConfigShape = {
  /** Developer Portal → the application → Bot → Reset Token. Three dot-separated base64url parts. */
  DISCORD_BOT_TOKEN: z
    .string()
    .transform((s) => s.trim().replace(/^Bot\s+/i, ''))
    .pipe(
      z
        .string()
        .regex(
          /^[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}$/,
          'must be the bot token from the Developer Portal (Bot → Reset Token), three parts separated by dots',
        ),
    ),
  /** REST base; the gateway URL is asked from it (GET /gateway/bot). Only changed for tests or a proxy. */
  DISCORD_API_URL: z.url().default('https://discord.com/api'),
  /** How long the first gateway connection (HELLO, IDENTIFY, READY, guilds) may take before the start fails. */
  DISCORD_LOGIN_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(60_000),
  /** Per REST request (send, typing); a request past it counts as a network error and is retried. */
  DISCORD_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(15_000),
};

export function loadDiscordConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConnectorConfig(discordConfigShape, env);
}
export type DiscordConfig = ReturnType<typeof loadDiscordConfig>;
