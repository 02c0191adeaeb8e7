import { loadConnectorConfig } from '@switchboard/connector';
import { z } from 'zod';

/**
 * The WeCom app's own settings. The five credentials have no default: a connector without them
 * must not start, and the start-up error names the missing key.
 */
export const wecomConfigShape = {
  /** 企业ID, from 我的企业 → 企业信息. It is also the receiveid every callback must carry. */
  WECOM_CORP_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'the CorpID shown under 我的企业 (e.g. ww1436e0e65a779aee)'),
  /** AgentId of the self-built app (应用管理 → the app). */
  WECOM_AGENT_ID: z
    .string()
    .regex(/^\d{1,10}$/, 'the numeric AgentId of the app (e.g. 1000002)')
    .transform(Number),
  /** The app's Secret; only ever sent to gettoken. */
  WECOM_SECRET: z.string().min(1).max(256),
  /** Token of the app's 接收消息 settings: signs every callback. */
  WECOM_TOKEN: z.string().regex(/^[A-Za-z0-9]{1,32}$/, 'letters and digits, at most 32, as set in 接收消息'),
  /** EncodingAESKey of the 接收消息 settings: base64 of the 32-byte AES key without its trailing '='. */
  WECOM_ENCODING_AES_KEY: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}$/, 'exactly 43 characters, as WeCom generates it in 接收消息'),
  WECOM_API_URL: z
    .url({ protocol: /^https?$/ })
    .default('https://qyapi.weixin.qq.com')
    .transform((u) => u.replace(/\/+$/, '')),
  /**
   * The app's display name, to tell "@name" in a group chat's text; WeCom's callback carries no
   * mention list. Unset: group messages count as not addressed to the bot.
   */
  WECOM_BOT_NAME: z.string().min(1).max(64).optional(),
  /** Callbacks whose signed timestamp is further than this from our clock are refused as replays. */
  WECOM_MAX_CLOCK_SKEW_S: z.coerce.number().int().min(10).max(86_400).default(300),
};

export function loadWecomConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConnectorConfig(wecomConfigShape, env);
}

export type WecomConfig = ReturnType<typeof loadWecomConfig>;
