import { verifySlackRequest } from '@slack/bolt';
import { SignatureError } from '@switchboard/connector';
import { errorMessage } from '@switchboard/core';

/** Slack's replay window: requests signed longer ago (or further ahead) than this are refused. */
export const MAX_CLOCK_SKEW_S = 5 * 60;

/**
 * Checks the v0 signature Slack puts on every Events API request over the exact raw body.
 * Bolt's helper does the HMAC and the staleness check; it lets future timestamps through, so those
 * are refused here, which keeps a captured request from being replayable for longer than the window.
 */
export function verifySignature(
  signingSecret: string,
  rawBody: string,
  headers: Record<string, string | string[] | undefined>,
  nowMs = Date.now(),
): void {
  const signature = headers['x-slack-signature'];
  const timestamp = headers['x-slack-request-timestamp'];
  if (typeof signature !== 'string' || typeof timestamp !== 'string') {
    throw new SignatureError('missing X-Slack-Signature or X-Slack-Request-Timestamp header');
  }
  const ts = Number(timestamp);
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(nowMs / 1000 - ts) > MAX_CLOCK_SKEW_S) {
    throw new SignatureError('X-Slack-Request-Timestamp is not within 5 minutes of now');
  }
  try {
    verifySlackRequest({
      signingSecret,
      body: rawBody,
      headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': ts },
      nowMilliseconds: nowMs,
    });
  } catch (err) {
    throw new SignatureError(
      `Slack signature invalid: ${errorMessage(err).replace(/^Failed to verify authenticity: /, '')}`,
    );
  }
}
