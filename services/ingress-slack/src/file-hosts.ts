import { ErrorCodes, SwitchboardError } from '@switchboard/core';

/** Where Slack serves the files people share (`url_private`, `url_private_download`). */
export const SLACK_FILE_ORIGIN = 'https://files.slack.com';

/**
 * The origins the bot token may be sent to with a file download: Slack's file host and the origin
 * of the configured Web API (slack.com, or a test fake / corporate proxy an operator set). An
 * allowlist, because the URL comes from the event body: whoever can get an event in front of us
 * must not be able to name a server that collects the token.
 */
export function slackFileOrigins(apiUrl: string): Set<string> {
  return new Set([SLACK_FILE_ORIGIN, new URL(apiUrl).origin]);
}

/** Throws ATTACHMENT_REFUSED (not retryable: the event will always name this URL) unless allowed. */
export function assertSlackFileUrl(url: string, allowed: Set<string>, name: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refused(name, 'its URL is not valid');
  }
  if (parsed.username || parsed.password) throw refused(name, 'its URL carries credentials');
  if (!allowed.has(parsed.origin)) {
    throw refused(name, `it is not hosted by Slack (${parsed.origin} is not ${[...allowed].join(' or ')})`);
  }
  return parsed;
}

function refused(name: string, why: string): SwitchboardError {
  return new SwitchboardError(ErrorCodes.ATTACHMENT_REFUSED, `${name} was not downloaded: ${why}`, {
    retryable: false,
  });
}
