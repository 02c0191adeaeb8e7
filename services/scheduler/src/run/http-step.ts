import { errorMessage } from '@switchboard/core';
import { findRefusal } from '@switchboard/egress';
import type { WorkflowStep } from '@switchboard/workflows';
import { WorkflowError, WorkflowErrorCode } from '@switchboard/workflows';
import { type Dispatcher, request } from 'undici';
import type { StepCall } from './steps.ts';

export interface HttpStepOptions {
  /**
   * The guarded agent of @switchboard/egress: every connection is judged by the egress policy on
   * the address it resolved to, and made to that address (no second lookup to rebind).
   */
  agent: Dispatcher;
  /** HTTP_STEP_MAX_BYTES */
  maxBytes: number;
  /** HTTP_STEP_MAX_REDIRECTS */
  maxRedirects: number;
}

type HttpWith = Extract<WorkflowStep, { type: 'http' }>['with'];

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function failed(message: string, retryable = true): WorkflowError {
  return new WorkflowError(WorkflowErrorCode.stepFailed, message, { retryable });
}

function refused(message: string): WorkflowError {
  return new WorkflowError(WorkflowErrorCode.refused, `refused: ${message}`, { retryable: false });
}

function parseUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refused(`${what} "${raw.slice(0, 200)}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw refused(`${what} ${url.href.slice(0, 200)}: only http and https URLs`);
  }
  if (url.username || url.password) throw refused(`${what}: no user name or password in URLs`);
  return url;
}

/**
 * One `http` step attempt. Every hop, the first and each redirect, connects through the guarded
 * agent, so an internal, loopback or metadata address is refused before a byte is sent, whichever
 * name led there. Redirects are followed here one at a time; the workflow's own headers go to the
 * origin the workflow names only.
 */
export async function httpStep(w: HttpWith, call: StepCall, o: HttpStepOptions) {
  const first = parseUrl(w.url, 'the URL');
  let url = first;
  let method: string = w.method;
  const base: Record<string, string> = { 'user-agent': 'switchboard-scheduler' };
  let headers: Record<string, string> = { ...base, ...w.headers };
  let body: string | undefined;
  if (typeof w.body === 'string') body = w.body;
  else if (w.body !== undefined) {
    body = JSON.stringify(w.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
      headers['content-type'] = 'application/json';
  }
  for (let hop = 0; ; hop++) {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        dispatcher: o.agent,
        method: method as Dispatcher.HttpMethod,
        headers,
        body,
        signal: call.signal,
      });
    } catch (err) {
      const refusal = findRefusal(err);
      const where = hop === 0 ? `${method} ${url.origin}` : `the redirect to ${url.origin}`;
      if (refusal) throw refused(`${where}: ${refusal.message}`);
      if (call.signal.aborted) throw failed(`${where} did not answer within ${call.timeoutMs} ms`);
      throw failed(`${where}: ${errorMessage(err)}`);
    }
    const location = res.headers.location;
    if (!REDIRECTS.has(res.statusCode) || typeof location !== 'string')
      return readResponse(res, method, url, o);
    await res.body.dump().catch(() => {});
    if (hop >= o.maxRedirects) {
      throw failed(
        `stopped after ${o.maxRedirects} redirects (HTTP_STEP_MAX_REDIRECTS; last: ${url.origin})`,
        false,
      );
    }
    const next = parseUrl(new URL(location, url).href, `the redirect from ${url.origin} to`);
    if (res.statusCode === 303 || (res.statusCode <= 302 && method === 'POST')) {
      method = 'GET';
      body = undefined;
    }
    // Credentials and whatever else the workflow set are meant for the origin it names.
    headers = next.origin === first.origin ? { ...base, ...w.headers } : { ...base };
    if (body === undefined) {
      for (const h of Object.keys(headers)) if (h.toLowerCase() === 'content-type') delete headers[h];
    }
    url = next;
  }
}

async function readResponse(res: Dispatcher.ResponseData, method: string, url: URL, o: HttpStepOptions) {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > o.maxBytes) {
        res.body.destroy();
        throw failed(`the response is larger than ${o.maxBytes} bytes (HTTP_STEP_MAX_BYTES)`, false);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof WorkflowError) throw err;
    throw failed(`${method} ${url.origin}: reading the response failed: ${errorMessage(err)}`);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const type = String(res.headers['content-type'] ?? '');
  const out: Record<string, unknown> = { status: res.statusCode, content_type: type, body: text };
  if (/\bjson\b/i.test(type)) {
    try {
      out.json = JSON.parse(text);
    } catch {
      // Not JSON after all: `body` has the text.
    }
  }
  if (res.statusCode >= 400) {
    const retryable = res.statusCode >= 500 || res.statusCode === 429 || res.statusCode === 408;
    throw failed(`${method} ${url.origin} answered ${res.statusCode}: ${text.slice(0, 300)}`, retryable);
  }
  return out;
}
