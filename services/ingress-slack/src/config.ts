import { loadConnectorConfig } from '@switchboard/connector';
import { ErrorCodes, SwitchboardError } from '@switchboard/core';
import { z } from 'zod';

/** Slack's own settings; the shared connector keys come from `loadConnectorConfig`. */
export const slackConfigShape = {
  /** Bot User OAuth Token (OAuth & Permissions page): every Web API call and file download. */
  SLACK_BOT_TOKEN: z.string().regex(/^xoxb-/, 'must be a bot token (xoxb-…)'),
  /** Signing Secret (Basic Information page): verifies Events API requests. Not used in Socket Mode. */
  SLACK_SIGNING_SECRET: z.string().min(8).optional(),
  /** App-Level Token with connections:write; when set, events arrive over Socket Mode, not HTTP. */
  SLACK_APP_TOKEN: z
    .string()
    .regex(/^xapp-/, 'must be an app-level token (xapp-…)')
    .optional(),
  /** Web API base URL; only tests and proxies change it. */
  SLACK_API_URL: z.url().default('https://slack.com/api/'),
  /** Path of the Events API Request URL on this service's HTTP server. */
  SLACK_EVENTS_PATH: z
    .string()
    .regex(/^\/[A-Za-z0-9/_-]*$/, 'must be a URL path such as /slack/events')
    .default('/slack/events'),
  /** Per-call timeout of the Web API. */
  SLACK_API_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
};

export type SlackConfig = ReturnType<typeof loadSlackConfig>;

export function loadSlackConfig(env: NodeJS.ProcessEnv = process.env) {
  const cfg = loadConnectorConfig(slackConfigShape, env);
  // Which credential is needed depends on the transport, which zod's per-key checks cannot say.
  if (!cfg.SLACK_APP_TOKEN && !cfg.SLACK_SIGNING_SECRET) {
    throw new SwitchboardError(
      ErrorCodes.CONFIG_INVALID,
      'invalid configuration:\n  SLACK_SIGNING_SECRET: is required (set SLACK_SIGNING_SECRET or ' +
        'SLACK_SIGNING_SECRET_FILE), or set SLACK_APP_TOKEN to receive events over Socket Mode',
    );
  }
  return cfg;
}
