import { createHmac, randomBytes } from 'node:crypto';

/**
 * Events API payloads shaped as Slack sends them (https://docs.slack.dev/apis/events-api/), and the
 * v0 request signature Slack puts on every delivery.
 */

export interface SlackFileObject {
  id: string;
  name: string;
  title: string;
  mimetype: string;
  filetype: string;
  size: number;
  url_private: string;
  url_private_download: string;
}

export interface MessageEventInput {
  channel: string;
  /** `im` for DMs, `channel` / `group` / `mpim` otherwise. Left out of app_mention events, as Slack does. */
  channelType?: 'im' | 'channel' | 'group' | 'mpim';
  user: string;
  text: string;
  ts?: string;
  threadTs?: string;
  parentUserId?: string;
  subtype?: string;
  botId?: string;
  files?: SlackFileObject[];
}

let tsCounter = 0;

/** A message timestamp as Slack makes them: seconds, a dot, six digits, unique per channel. */
export function nextTs(): string {
  tsCounter = (tsCounter + 1) % 1_000_000;
  return `${Math.floor(Date.now() / 1000)}.${String(tsCounter).padStart(6, '0')}`;
}

export function randomId(prefix: string, length = 10): string {
  return `${prefix}${randomBytes(length).toString('hex').toUpperCase().slice(0, length)}`;
}

export function messageEvent(m: MessageEventInput, type: 'message' | 'app_mention' = 'message') {
  const ts = m.ts ?? nextTs();
  return {
    type,
    ...(m.subtype ? { subtype: m.subtype } : {}),
    user: m.user,
    ...(m.botId ? { bot_id: m.botId } : {}),
    text: m.text,
    ts,
    client_msg_id: randomBytes(16).toString('hex'),
    team: 'T0FAKE',
    channel: m.channel,
    event_ts: ts,
    ...(type === 'message' && m.channelType ? { channel_type: m.channelType } : {}),
    ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
    ...(m.parentUserId ? { parent_user_id: m.parentUserId } : {}),
    ...(m.files ? { files: m.files, upload: false, display_as_bot: false } : {}),
    blocks: [],
  };
}

/** The outer envelope of an Events API delivery. */
export function eventCallback(
  event: Record<string, unknown>,
  o: { teamId: string; appId: string; botUserId: string; eventId?: string },
) {
  return {
    token: 'fake-verification-token',
    team_id: o.teamId,
    context_team_id: o.teamId,
    api_app_id: o.appId,
    event,
    type: 'event_callback',
    event_id: o.eventId ?? randomId('Ev'),
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [
      {
        enterprise_id: null,
        team_id: o.teamId,
        user_id: o.botUserId,
        is_bot: true,
        is_enterprise_install: false,
      },
    ],
    is_ext_shared_channel: false,
    event_context: `4-${randomBytes(12).toString('base64url')}`,
  };
}

export function urlVerification(challenge: string) {
  return { token: 'fake-verification-token', challenge, type: 'url_verification' };
}

/** `v0=` + HMAC-SHA256 of `v0:<timestamp>:<raw body>` with the signing secret. */
export function signSlackRequest(signingSecret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export interface PostEventOptions {
  signingSecret: string;
  /** Unix seconds; defaults to now. */
  timestamp?: number;
  /** Replaces the computed signature, e.g. to send a forged one; `null` leaves the header out. */
  signature?: string | null;
  /** Set on redeliveries, as Slack does. */
  retryNum?: number;
  retryReason?: string;
}

/** POSTs a payload to a Request URL exactly as Slack does: raw JSON, signed, with Slack's headers. */
export async function postSignedEvent(
  url: string,
  payload: unknown,
  o: PostEventOptions,
): Promise<{ status: number; body: string }> {
  const body = JSON.stringify(payload);
  const timestamp = o.timestamp ?? Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
    'x-slack-request-timestamp': String(timestamp),
  };
  const signature =
    o.signature === undefined ? signSlackRequest(o.signingSecret, timestamp, body) : o.signature;
  if (signature !== null) headers['x-slack-signature'] = signature;
  if (o.retryNum !== undefined) {
    headers['x-slack-retry-num'] = String(o.retryNum);
    headers['x-slack-retry-reason'] = o.retryReason ?? 'http_timeout';
  }
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, body: await res.text() };
}
