import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { wecomEncrypt, wecomSignature } from './crypto.ts';

/*
 * A fake of the WeCom server API (qyapi.weixin.qq.com) for one corp and one self-built app, and of
 * WeCom's side of the app's 接收消息 callback. Same paths, same JSON shapes, errors as HTTP 200 with an
 * errcode, access tokens that expire, the callback's encryption and signature.
 */

export interface FakeWecomOptions {
  corpId?: string;
  agentId?: number;
  secret?: string;
  /** The callback's Token and EncodingAESKey, as set in the app's 接收消息 settings. */
  token?: string;
  encodingAesKey?: string;
  /** expires_in of the access tokens handed out. */
  tokenTtlS?: number;
}

/** One message the app sent through message/send or appchat/send (failed calls excluded). */
export interface FakeSent {
  endpoint: 'message/send' | 'appchat/send';
  /** touser, or the chatid of an app group chat. */
  to: string;
  msgtype: string;
  /** text / markdown content. */
  content?: string;
  mediaId?: string;
  msgid?: string;
  body: Record<string, unknown>;
}

export interface FakeMedia {
  type: string;
  filename: string;
  contentType: string;
  data: Buffer;
}

/** A callback request as WeCom sends it, kept to send again exactly as WeCom retries. */
export interface CallbackRequest {
  query: Record<string, string>;
  body: string;
}

export type SendFailure = 'rate_limit' | 'concurrency_limit' | 'busy' | 'server_error';

const MEDIA_LIMITS: Record<string, { max: number; errcode: number }> = {
  image: { max: 10 * 1024 * 1024, errcode: 40009 },
  voice: { max: 2 * 1024 * 1024, errcode: 40010 },
  video: { max: 10 * 1024 * 1024, errcode: 40011 },
  file: { max: 20 * 1024 * 1024, errcode: 40006 },
};
const MAX_BODY = 25 * 1024 * 1024;
/** markdown and text content: at most 2048 bytes of UTF-8. */
const MAX_CONTENT_BYTES = 2048;

const ok = { errcode: 0, errmsg: 'ok' };
const err = (errcode: number, errmsg: string) => ({
  errcode,
  errmsg: `${errmsg}, hint: [${randomBytes(6).toString('hex')}], more info at https://open.work.weixin.qq.com/devtool/query?e=${errcode}`,
});

export class FakeWecom {
  readonly corpId: string;
  readonly agentId: number;
  readonly secret: string;
  readonly token: string;
  readonly encodingAesKey: string;
  url = '';
  /** Messages delivered, in order. */
  readonly sent: FakeSent[] = [];
  /** Files the app uploaded or that users sent, by media_id. */
  readonly media = new Map<string, FakeMedia>();
  gettokenCalls = 0;
  /** message/send and appchat/send calls, failed ones included. */
  sendCalls = 0;
  private readonly tokens = new Map<string, number>();
  private failures: SendFailure[] = [];
  private readonly tokenTtlS: number;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private msgSeq = BigInt(7_400_000_000_000_000_000n) + BigInt(randomBytes(4).readUInt32BE(0)) * 1000n;

  constructor(o: FakeWecomOptions = {}) {
    this.corpId = o.corpId ?? `ww${randomBytes(8).toString('hex')}`;
    this.agentId = o.agentId ?? 1_000_002;
    this.secret = o.secret ?? randomBytes(32).toString('base64url').slice(0, 43);
    this.token = o.token ?? randomBytes(16).toString('hex');
    // 32 random bytes in base64 are 44 characters, the last one the '=' WeCom leaves off.
    this.encodingAesKey = o.encodingAesKey ?? randomBytes(32).toString('base64').slice(0, 43);
    this.tokenTtlS = o.tokenTtlS ?? 7200;
    this.server = createServer((req, res) => {
      this.route(req, res).catch((e: unknown) => {
        if (!res.headersSent) send(res, 500, { error: String(e) });
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * The next n send calls fail: errcode 45009 / 45033 / -1 in a 200 answer, or HTTP 500. Replaces
   * failures still pending, so n = 0 ends an injected outage.
   */
  failNextSends(n: number, kind: SendFailure): void {
    this.failures = Array.from({ length: n }, () => kind);
  }

  /** Every token handed out so far expires now (as when the secret is reset, or after 7200 s). */
  expireTokens(): void {
    for (const t of this.tokens.keys()) this.tokens.set(t, 0);
  }

  /** A file a user sent, retrievable with media/get as WeCom keeps it for three days. */
  addMedia(m: Omit<FakeMedia, 'type'> & { type?: string }): string {
    const id = randomBytes(24).toString('base64url');
    this.media.set(id, { type: m.type ?? 'file', ...m });
    return id;
  }

  /** A fresh 64-bit MsgId, beyond what a JavaScript number holds exactly. */
  nextMsgId(): string {
    this.msgSeq += 1n;
    return this.msgSeq.toString();
  }

  // ---- WeCom's side of the callback ----

  /** Encrypts and signs a message XML into the request WeCom posts to the app's callback URL. */
  callbackRequest(
    innerXml: string,
    o: { badSignature?: boolean; corpId?: string; timestamp?: number; token?: string } = {},
  ): CallbackRequest {
    const encrypt = wecomEncrypt(this.encodingAesKey, innerXml, o.corpId ?? this.corpId);
    const timestamp = String(o.timestamp ?? Math.floor(Date.now() / 1000));
    const nonce = String(randomBytes(4).readUInt32BE(0));
    let signature = wecomSignature(o.token ?? this.token, timestamp, nonce, encrypt);
    if (o.badSignature)
      signature = `${signature.slice(0, -4)}${signature.endsWith('0000') ? 'ffff' : '0000'}`;
    const body =
      `<xml><ToUserName><![CDATA[${this.corpId}]]></ToUserName>\n<Encrypt><![CDATA[${encrypt}]]></Encrypt>\n` +
      `<AgentID><![CDATA[${this.agentId}]]></AgentID>\n</xml>`;
    return { query: { msg_signature: signature, timestamp, nonce }, body };
  }

  /** Posts a callback request to the app, as WeCom does (and does again when it retries). */
  async postCallback(callbackUrl: string, r: CallbackRequest): Promise<{ status: number; body: string }> {
    const res = await fetch(`${callbackUrl}?${new URLSearchParams(r.query)}`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml' },
      body: r.body,
    });
    return { status: res.status, body: await res.text() };
  }

  /** The 接收消息 URL check WeCom makes when the URL is saved: the app must echo the decrypted echostr. */
  async verifyUrl(
    callbackUrl: string,
    o: { badSignature?: boolean } = {},
  ): Promise<{ status: number; body: string; expected: string }> {
    const expected = String(randomBytes(8).readBigUInt64BE(0));
    const echostr = wecomEncrypt(this.encodingAesKey, expected, this.corpId);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = String(randomBytes(4).readUInt32BE(0));
    const signature = o.badSignature ? '0'.repeat(40) : wecomSignature(this.token, timestamp, nonce, echostr);
    const q = new URLSearchParams({ msg_signature: signature, timestamp, nonce, echostr });
    const res = await fetch(`${callbackUrl}?${q}`);
    return { status: res.status, body: await res.text(), expected };
  }

  // ---- The server API ----

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const a = await this.answer(req);
    if ('file' in a) {
      const m = a.file;
      res.writeHead(200, {
        'content-type': m.contentType,
        // Header values are Latin-1: a Chinese name goes in the RFC 5987 form, as browsers expect.
        'content-disposition': `attachment; filename="${m.filename.replace(/[^\x20-\x7e]|"/g, '_')}"; filename*=UTF-8''${encodeURIComponent(m.filename)}`,
        'content-length': m.data.length,
        'cache-control': 'no-cache, must-revalidate',
      });
      res.end(m.data);
      return;
    }
    send(res, a.status, a.json);
  }

  private async answer(req: IncomingMessage): Promise<Answer> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const q = url.searchParams;
    const path = url.pathname;
    if (path === '/cgi-bin/gettoken' && req.method === 'GET') return this.gettoken(q);
    const body = await readBody(req);
    if (path === '/cgi-bin/message/send' && req.method === 'POST') return this.send('message/send', q, body);
    if (path === '/cgi-bin/appchat/send' && req.method === 'POST') return this.send('appchat/send', q, body);
    if (path === '/cgi-bin/media/upload' && req.method === 'POST') return this.upload(req, q, body);
    if (path === '/cgi-bin/media/get' && req.method === 'GET') return this.mediaGet(q);
    return { status: 404, json: { errcode: 404, errmsg: `no such API ${req.method} ${path}` } };
  }

  private gettoken(q: URLSearchParams): Answer {
    this.gettokenCalls++;
    const corpid = q.get('corpid');
    const secret = q.get('corpsecret');
    if (!corpid) return answer(err(41002, 'corpid missing'));
    if (!secret) return answer(err(41004, 'corpsecret missing'));
    if (corpid !== this.corpId) return answer(err(40013, 'invalid corpid'));
    if (secret !== this.secret) return answer(err(40001, 'invalid credential'));
    const token = randomBytes(48).toString('base64url');
    this.tokens.set(token, Date.now() + this.tokenTtlS * 1000);
    return answer({ ...ok, access_token: token, expires_in: this.tokenTtlS });
  }

  /** The errcode an access_token earns, or undefined when it is good. */
  private tokenError(q: URLSearchParams) {
    const t = q.get('access_token');
    if (!t) return err(41001, 'access_token missing');
    const expires = this.tokens.get(t);
    if (expires === undefined) return err(40014, 'invalid access_token');
    if (Date.now() >= expires) return err(42001, 'access_token expired');
    return undefined;
  }

  private send(endpoint: FakeSent['endpoint'], q: URLSearchParams, raw: Buffer): Answer {
    this.sendCalls++;
    const failure = this.failures.shift();
    if (failure === 'server_error')
      return { status: 500, json: { errcode: -1, errmsg: 'internal server error' } };
    if (failure === 'rate_limit') return answer(err(45009, 'api freq out of limit'));
    if (failure === 'concurrency_limit') return answer(err(45033, 'api concurrent out of limit'));
    if (failure === 'busy') return answer(err(-1, 'system busy'));
    const bad = this.tokenError(q);
    if (bad) return answer(bad);

    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    } catch {
      return answer(err(47001, 'data format error'));
    }
    let to: string;
    if (endpoint === 'message/send') {
      if (String(body.agentid) !== String(this.agentId)) return answer(err(40056, 'invalid agentid'));
      if (typeof body.touser !== 'string' || !body.touser) {
        return answer(err(81013, 'user & party & tag all invalid'));
      }
      to = body.touser;
    } else {
      if (typeof body.chatid !== 'string' || !/^[A-Za-z0-9]{1,32}$/.test(body.chatid)) {
        return answer(err(86001, 'invalid chatid'));
      }
      to = body.chatid;
    }
    const msgtype = String(body.msgtype);
    const payload = (body[msgtype] ?? {}) as Record<string, unknown>;
    const record: FakeSent = { endpoint, to, msgtype, body };
    if (msgtype === 'text' || msgtype === 'markdown') {
      const content = payload.content;
      if (typeof content !== 'string' || content.length === 0) return answer(err(44004, 'empty content'));
      if (Buffer.byteLength(content, 'utf8') > MAX_CONTENT_BYTES) {
        return answer(err(45002, 'content size out of limit'));
      }
      record.content = content;
    } else if (msgtype === 'file' || msgtype === 'image' || msgtype === 'voice' || msgtype === 'video') {
      const id = payload.media_id;
      if (typeof id !== 'string' || !this.media.has(id)) return answer(err(40007, 'invalid media_id'));
      record.mediaId = id;
    } else {
      return answer(err(40008, 'invalid message type'));
    }
    if (endpoint === 'message/send') {
      record.msgid = randomBytes(24).toString('base64url');
      this.sent.push(record);
      return answer({
        ...ok,
        invaliduser: '',
        invalidparty: '',
        invalidtag: '',
        unlicenseduser: '',
        msgid: record.msgid,
        response_code: '',
      });
    }
    this.sent.push(record);
    return answer(ok);
  }

  private async upload(req: IncomingMessage, q: URLSearchParams, raw: Buffer): Promise<Answer> {
    const bad = this.tokenError(q);
    if (bad) return answer(bad);
    const type = q.get('type') ?? '';
    const limit = MEDIA_LIMITS[type];
    if (!limit) return answer(err(40004, 'invalid media type'));
    let form: FormData;
    try {
      form = await new Response(new Uint8Array(raw), {
        headers: { 'content-type': req.headers['content-type'] ?? '' },
      }).formData();
    } catch {
      return answer(err(47001, 'data format error'));
    }
    const file = form.get('media');
    if (!file || typeof file === 'string') return answer(err(41005, 'media data missing'));
    const data = Buffer.from(await file.arrayBuffer());
    if (data.length < 5 || data.length > limit.max) return answer(err(limit.errcode, 'invalid file size'));
    const id = randomBytes(24).toString('base64url');
    this.media.set(id, {
      type,
      filename: file.name,
      contentType: file.type || 'application/octet-stream',
      data,
    });
    return answer({
      errcode: 0,
      errmsg: '',
      type,
      media_id: id,
      created_at: String(Math.floor(Date.now() / 1000)),
    });
  }

  private mediaGet(q: URLSearchParams): Answer {
    const bad = this.tokenError(q);
    if (bad) return answer(bad);
    const m = this.media.get(q.get('media_id') ?? '');
    if (!m) return answer(err(40007, 'invalid media_id'));
    return { status: 200, file: m };
  }
}

export async function startFakeWecom(o: FakeWecomOptions = {}): Promise<FakeWecom> {
  return new FakeWecom(o).listen();
}

/** What an API call answers: JSON (errors too, in a 200), or a file. */
type Answer = { status: number; json: unknown } | { status: 200; file: FakeMedia };

const answer = (json: unknown): Answer => ({ status: 200, json });

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A 接收消息 message as WeCom encrypts it into the callback. */
export function messageXml(m: {
  corpId: string;
  agentId: number;
  from: string;
  msgId: string;
  type?: 'text' | 'image' | 'file' | 'voice' | 'video';
  content?: string;
  mediaId?: string;
  fileName?: string;
  chatId?: string;
  createTime?: number;
}): string {
  const type = m.type ?? 'text';
  const c = (s: string) => `<![CDATA[${s.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
  const fields = [
    `<ToUserName>${c(m.corpId)}</ToUserName>`,
    `<FromUserName>${c(m.from)}</FromUserName>`,
    `<CreateTime>${m.createTime ?? Math.floor(Date.now() / 1000)}</CreateTime>`,
    `<MsgType>${c(type)}</MsgType>`,
    type === 'text' ? `<Content>${c(m.content ?? '')}</Content>` : `<MediaId>${c(m.mediaId ?? '')}</MediaId>`,
    type === 'image' ? `<PicUrl>${c(`https://wework.qpic.cn/wwpic/${m.mediaId}/0`)}</PicUrl>` : '',
    type === 'file' && m.fileName ? `<FileName>${c(m.fileName)}</FileName>` : '',
    m.chatId ? `<ChatId>${c(m.chatId)}</ChatId>` : '',
    `<MsgId>${m.msgId}</MsgId>`,
    `<AgentID>${m.agentId}</AgentID>`,
  ];
  return `<xml>${fields.join('')}</xml>`;
}
