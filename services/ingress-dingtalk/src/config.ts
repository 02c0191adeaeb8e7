import { loadConnectorConfig } from '@switchboard/connector';
import { z } from 'zod';

const origins = z
  .string()
  .default('https://oapi.dingtalk.com')
  .transform((s, ctx) => {
    const out: string[] = [];
    for (const part of s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      try {
        out.push(new URL(part).origin);
      } catch {
        ctx.addIssue({ code: 'custom', message: `not a URL: ${part}` });
        return z.NEVER;
      }
    }
    return out;
  });

/** DingTalk's own settings, on top of the shared connector keys. */
export const dingtalkConfigShape = {
  /** The app's AppKey (Client ID); for an internal-app robot it is also the robotCode. */
  DINGTALK_APP_KEY: z.string().min(1),
  /** The app's AppSecret (Client Secret): signs callbacks and buys access tokens. */
  DINGTALK_APP_SECRET: z.string().min(1),
  /** The robotCode when it differs from the AppKey (robots added to an existing app). */
  DINGTALK_ROBOT_CODE: z.string().min(1).optional(),
  /** Base URL of the DingTalk OpenAPI; only tests and proxies change it. */
  DINGTALK_API_URL: z.url({ protocol: /^https?$/ }).default('https://api.dingtalk.com'),
  /**
   * How messages arrive. `http`: DingTalk POSTs them to /dingtalk/callback. `stream`: we hold a
   * WebSocket to DingTalk's gateway and need no public URL.
   */
  DINGTALK_MODE: z.enum(['http', 'stream']).default('http'),
  /**
   * Origins a callback's sessionWebhook may point at. The callback signature covers only its
   * timestamp, so a replayed body could name any URL: we never POST replies anywhere else.
   */
  DINGTALK_SESSION_WEBHOOK_ORIGINS: origins,
  /** The robot's display name, removed from the start of group messages ("@Name hello"). */
  DINGTALK_ROBOT_NAME: z.string().min(1).optional(),
};

export function loadDingtalkConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConnectorConfig(dingtalkConfigShape, env);
}

export type DingtalkConfig = ReturnType<typeof loadDingtalkConfig>;
