import { createHmac } from 'node:crypto';

/** base64(HMAC-SHA256(key = secret, data = timestamp + "\n" + secret)), DingTalk's custom-robot signature. */
export function dingtalkSign(timestamp: string, secret: string): string {
  return createHmac('sha256', secret).update(`${timestamp}\n${secret}`, 'utf8').digest('base64');
}

/**
 * The webhook URL with `timestamp` and `sign` appended. DingTalk rejects a timestamp more than an
 * hour off, so a URL is signed for each attempt, never cached.
 */
export function signedDingtalkUrl(webhookUrl: string, secret: string | undefined, now = Date.now()): string {
  if (!secret) return webhookUrl;
  const url = new URL(webhookUrl);
  const timestamp = String(now);
  // URLSearchParams percent-encodes the base64 "+", "/" and "=" as DingTalk's docs require.
  url.searchParams.set('timestamp', timestamp);
  url.searchParams.set('sign', dingtalkSign(timestamp, secret));
  return url.toString();
}
