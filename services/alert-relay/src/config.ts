import { loadConfig } from '@switchboard/core';
import { z } from 'zod';

const robotUrl = z.url({ protocol: /^https?$/ }).optional();

/** alert-relay needs no broker or database: only where to listen and the robots to page. */
export const alertRelayConfigSchema = z.object({
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  HTTP_HOST: z.string().default('127.0.0.1'),
  HTTP_PORT: z.coerce.number().int().min(0).max(65_535).default(9103),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  /**
   * Bearer token Alertmanager sends with every notification (its webhook's credentials_file).
   * Required: without it anyone on the network could page the on-call team with a forged alert.
   */
  ALERT_RELAY_TOKEN: z
    .string()
    .min(24, 'must be at least 24 characters')
    // A bearer token ends at the first space: one with whitespace could never be presented.
    .regex(/^\S+$/, 'must not contain whitespace'),
  /** WeCom group robot webhook, https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…; the key is a secret. */
  WECOM_ROBOT_URL: robotUrl,
  /** DingTalk custom robot webhook, https://oapi.dingtalk.com/robot/send?access_token=…; a secret. */
  DINGTALK_ROBOT_URL: robotUrl,
  /** The robot's "加签" secret (SEC…); without it messages go unsigned, which DingTalk only accepts when signing is off. */
  DINGTALK_ROBOT_SECRET: z.string().min(1).optional(),
  /** Both robots refuse more than 20 messages a minute; a lower value leaves room for other senders. */
  ROBOT_MAX_PER_MINUTE: z.coerce.number().int().min(1).max(20).default(20),
  /** Tries per notification, the first included. */
  ROBOT_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(4),
  ROBOT_RETRY_MIN_MS: z.coerce.number().int().min(1).default(1_000),
  ROBOT_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
});
// No robot at all is allowed: a fresh install has none yet, and crash-looping would hide the
// alerts too. They stay visible in Alertmanager's UI; the route answers "skipped" and logs it.

export type AlertRelayConfig = z.infer<typeof alertRelayConfigSchema>;

export function loadAlertRelayConfig(env: NodeJS.ProcessEnv = process.env): AlertRelayConfig {
  return loadConfig(alertRelayConfigSchema, env);
}
