import { formatBytes, PlatformApiError, readCapped } from '@switchboard/connector';
import { ErrorCodes, SwitchboardError } from '@switchboard/core';

/**
 * Fetches a Discord attachment (a signed CDN URL, no credentials needed), refusing it from the
 * Content-Length when that is already over the cap and otherwise stopping once the cap is passed.
 */
export async function downloadAttachment(url: string, maxBytes: number, name: string, timeoutMs: number) {
  if (!/^https?:\/\//.test(url))
    throw new PlatformApiError('discord', `attachment ${name} has no http(s) URL`);
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) }).catch((err: unknown) => {
    throw new PlatformApiError('discord', `attachment ${name} download failed: ${(err as Error).message}`, {
      cause: err,
    });
  });
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new PlatformApiError('discord', `attachment ${name} download answered ${res.status}`, {
      status: res.status,
    });
  }
  const length = Number(res.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(length) && length > maxBytes) {
    await res.body.cancel();
    throw new SwitchboardError(
      ErrorCodes.ATTACHMENT_TOO_LARGE,
      `${name} is ${formatBytes(length)}, over the ${formatBytes(maxBytes)} limit`,
      { statusCode: 413 },
    );
  }
  return readCapped(res.body, maxBytes, name);
}
