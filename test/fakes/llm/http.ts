import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

export const JSON_TYPE = 'application/json; charset=utf-8';
const MAX_BODY_BYTES = 32 * 1024 * 1024;

export class BodyTooLargeError extends Error {}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BodyTooLargeError(`request body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

export type JsonBody = { ok: true; value: unknown } | { ok: false; error: string };

export async function readJson(req: IncomingMessage): Promise<JsonBody> {
  const text = await readBody(req);
  if (text.length === 0) return { ok: false, error: 'missing request body' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: OutgoingHttpHeaders,
): void {
  sendText(res, status, JSON.stringify(body), JSON_TYPE, headers);
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  contentType: string,
  headers?: OutgoingHttpHeaders,
): void {
  res.writeHead(status, {
    ...headers,
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Resolves after `ms`, or early with `false` when the client went away, so a slow reply never
 * writes to a dead socket and never keeps `close()` waiting on a timer.
 */
export function waitFor(res: ServerResponse, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (res.destroyed) {
      resolve(false);
      return;
    }
    const onClose = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.off('close', onClose);
      resolve(!res.destroyed);
    }, ms);
    res.once('close', onClose);
  });
}

/**
 * Writes a streamed body. Without a chunk delay everything goes out in one write: clients split
 * by line/event anyway, and one syscall per reply is what keeps the benchmark cheap.
 */
export async function writeStream(
  res: ServerResponse,
  parts: readonly string[],
  chunkDelayMs: number,
): Promise<void> {
  if (chunkDelayMs <= 0) {
    res.end(parts.join(''));
    return;
  }
  for (let i = 0; i < parts.length; i++) {
    if (i > 0 && !(await waitFor(res, chunkDelayMs))) return;
    res.write(parts[i]);
  }
  res.end();
}

/** Sends `head` of a response and then cuts the connection, as a crashing upstream would. */
export function writeThenDestroy(res: ServerResponse, head: string): void {
  res.write(head, () => res.destroy());
}

/** Word-ish pieces with their leading whitespace, so that joining the pieces gives back the text. */
export function splitTokens(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

/** Rough token estimate (4 characters a token) — enough for usage fields to be plausible. */
export function estimateTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}
