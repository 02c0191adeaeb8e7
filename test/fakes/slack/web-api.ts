import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { nextTs, randomId, type SlackFileObject } from './events.ts';

/**
 * The slice of the Slack Web API (https://docs.slack.dev/reference/methods) the connector uses, with
 * Slack's conventions: POST form or JSON bodies, the token as a Bearer header or `token` field, errors
 * as HTTP 200 `{ ok: false, error }`, rate limits as HTTP 429 with `Retry-After` (seconds).
 */

export interface ApiCall {
  method: string;
  args: Record<string, unknown>;
  /** HTTP status the fake answered. */
  status: number;
  /** Slack error code when the call failed. */
  error?: string;
}

export interface PostedMessage {
  channel: string;
  text: string;
  threadTs?: string;
  ts: string;
  /** Names of the files shared with this message (file uploads). */
  files: string[];
}

export interface Identity {
  botToken: string;
  appToken: string;
  teamId: string;
  appId: string;
  botUserId: string;
  botId: string;
}

export type FailureKind = 'rate_limit' | 'server_error';

/** Calls that put something in a channel; failure injection and `sendCalls` count these. */
const SEND_METHODS = new Set(['chat.postMessage', 'files.getUploadURLExternal']);

const MAX_TEXT = 40_000;

export class SlackApiState {
  readonly calls: ApiCall[] = [];
  readonly posted: PostedMessage[] = [];
  /** Files users "uploaded", served at url_private with the bot token. */
  readonly userFiles = new Map<string, { file: SlackFileObject; data: Buffer }>();
  /** Bytes the bot uploaded through the external upload flow, by file id. */
  readonly uploads = new Map<string, { filename: string; length: number; data?: Buffer }>();
  private failures: FailureKind[] = [];
  private sends = 0;

  constructor(
    readonly id: Identity,
    private readonly urls: {
      base(): string;
      /** Issues a one-time WebSocket URL for Socket Mode. */
      socket(): string;
    },
  ) {}

  /** The next n sends fail; replaces what was set before, so `0` clears it. */
  failNextSends(n: number, kind: FailureKind): void {
    this.failures = Array.from({ length: n }, () => kind);
  }

  sendCalls(): number {
    return this.sends;
  }

  addUserFile(name: string, mimetype: string, data: Buffer): SlackFileObject {
    const id = randomId('F');
    const path = `/files-pri/${this.id.teamId}-${id}/${encodeURIComponent(name)}`;
    const file: SlackFileObject = {
      id,
      name,
      title: name,
      mimetype,
      filetype: name.split('.').pop() ?? 'binary',
      size: data.length,
      url_private: `${this.urls.base()}${path}`,
      url_private_download: `${this.urls.base()}${path.replace('/files-pri/', '/files-pri-download/')}`,
    };
    this.userFiles.set(id, { file, data });
    return file;
  }

  /** Handles `POST /api/<method>`. */
  async handle(method: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const args = await readArgs(req);
    const token = bearer(req) ?? (typeof args.token === 'string' ? args.token : undefined);
    const record = (status: number, error?: string) => this.calls.push({ method, args, status, error });

    if (SEND_METHODS.has(method)) {
      this.sends++;
      const failure = this.failures.shift();
      if (failure === 'rate_limit') {
        record(429, 'ratelimited');
        return json(res, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': '1' });
      }
      if (failure === 'server_error') {
        record(500, 'internal_error');
        res.writeHead(500, { 'content-type': 'text/html' });
        res.end('<html><body><h1>500 Internal Server Error</h1></body></html>');
        return;
      }
    }

    const result = this.dispatch(method, args, token);
    record(200, result.ok ? undefined : String(result.error));
    json(res, 200, result);
  }

  private dispatch(method: string, args: Record<string, unknown>, token: string | undefined) {
    if (!token) return { ok: false, error: 'not_authed' };
    if (method === 'apps.connections.open') {
      if (token === this.id.botToken) return { ok: false, error: 'not_allowed_token_type' };
      if (token !== this.id.appToken) return { ok: false, error: 'invalid_auth' };
      return { ok: true, url: this.urls.socket() };
    }
    if (token === this.id.appToken) return { ok: false, error: 'not_allowed_token_type' };
    if (token !== this.id.botToken) return { ok: false, error: 'invalid_auth' };
    switch (method) {
      case 'auth.test':
        return {
          ok: true,
          url: 'https://fake-workspace.slack.com/',
          team: 'Fake Workspace',
          user: 'switchboard',
          team_id: this.id.teamId,
          user_id: this.id.botUserId,
          bot_id: this.id.botId,
          is_enterprise_install: false,
        };
      case 'chat.postMessage':
        return this.postMessage(args);
      case 'files.getUploadURLExternal':
        return this.getUploadUrl(args);
      case 'files.completeUploadExternal':
        return this.completeUpload(args);
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  private postMessage(args: Record<string, unknown>) {
    const channel = str(args.channel);
    const text = str(args.text);
    if (!channel) return { ok: false, error: 'channel_not_found' };
    if (!text && !args.blocks && !args.attachments) return { ok: false, error: 'no_text' };
    if (text && text.length > MAX_TEXT) return { ok: false, error: 'msg_too_long' };
    const threadTs = str(args.thread_ts);
    const ts = nextTs();
    this.posted.push({ channel, text: text ?? '', threadTs, ts, files: [] });
    return {
      ok: true,
      channel,
      ts,
      message: {
        type: 'message',
        user: this.id.botUserId,
        bot_id: this.id.botId,
        app_id: this.id.appId,
        text: text ?? '',
        ts,
        team: this.id.teamId,
        ...(threadTs ? { thread_ts: threadTs } : {}),
      },
    };
  }

  private getUploadUrl(args: Record<string, unknown>) {
    const filename = str(args.filename);
    const length = Number(args.length);
    if (!filename || !Number.isInteger(length) || length < 1)
      return { ok: false, error: 'invalid_arguments' };
    const fileId = randomId('F');
    this.uploads.set(fileId, { filename, length });
    return { ok: true, upload_url: `${this.urls.base()}/upload/v1/${fileId}`, file_id: fileId };
  }

  /** Handles the upload URL `files.getUploadURLExternal` handed out: raw bytes or a multipart form. */
  async receiveUpload(fileId: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const upload = this.uploads.get(fileId);
    if (!upload) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('upload not found');
      return;
    }
    const raw = await readRaw(req);
    let data = raw;
    const type = req.headers['content-type'] ?? '';
    if (type.startsWith('multipart/form-data')) {
      const form = await new Request('http://upload', {
        method: 'POST',
        headers: { 'content-type': type },
        body: new Uint8Array(raw),
      })
        .formData()
        .catch(() => undefined);
      const part = form ? [...form.values()].find((v): v is File => typeof v !== 'string') : undefined;
      if (!part) {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end('no file in form');
        return;
      }
      data = Buffer.from(await part.arrayBuffer());
    }
    upload.data = data;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`OK - ${data.length}`);
  }

  private completeUpload(args: Record<string, unknown>) {
    let files: Array<{ id?: string; title?: string }>;
    try {
      files = typeof args.files === 'string' ? JSON.parse(args.files) : (args.files as typeof files);
    } catch {
      return { ok: false, error: 'invalid_arguments' };
    }
    if (!Array.isArray(files) || files.length === 0) return { ok: false, error: 'invalid_arguments' };
    const done = [];
    for (const f of files) {
      const upload = f.id ? this.uploads.get(f.id) : undefined;
      if (!upload?.data) return { ok: false, error: 'file_not_found' };
      if (upload.data.length !== upload.length) return { ok: false, error: 'file_upload_size_mismatch' };
      done.push({ id: f.id, name: upload.filename, title: f.title ?? upload.filename, size: upload.length });
    }
    const channel = str(args.channel_id) ?? str(args.channels);
    if (channel) {
      this.posted.push({
        channel,
        text: str(args.initial_comment) ?? '',
        threadTs: str(args.thread_ts),
        ts: nextTs(),
        files: done.map((f) => f.name),
      });
    }
    return { ok: true, files: done };
  }

  /** `GET` of a url_private: the bytes with the bot token, Slack's sign-in page without it. */
  serveUserFile(fileId: string, req: IncomingMessage, res: ServerResponse): void {
    const entry = this.userFiles.get(fileId);
    if (!entry) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('file not found');
      return;
    }
    if (bearer(req) !== this.id.botToken) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!DOCTYPE html><html><head><title>Sign in | Slack</title></head><body></body></html>');
      return;
    }
    res.writeHead(200, { 'content-type': entry.file.mimetype, 'content-length': entry.data.length });
    res.end(entry.data);
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice('Bearer '.length) : undefined;
}

export function readRaw(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Slack takes form-encoded or JSON bodies (and multipart for legacy uploads). */
async function readArgs(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readRaw(req);
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('application/json')) {
    try {
      const v = JSON.parse(raw.toString('utf8'));
      return v && typeof v === 'object' ? v : {};
    } catch {
      return {};
    }
  }
  if (type.startsWith('multipart/form-data')) {
    const form = await new Request('http://api', {
      method: 'POST',
      headers: { 'content-type': type },
      body: new Uint8Array(raw),
    })
      .formData()
      .catch(() => undefined);
    const out: Record<string, unknown> = {};
    for (const [k, v] of form?.entries() ?? []) out[k] = typeof v === 'string' ? v : `<file ${v.name}>`;
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parseQuery(raw.toString('utf8')))) out[k] = Array.isArray(v) ? v[0] : v;
  return out;
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
