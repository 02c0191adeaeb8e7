import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

/**
 * A protocol-faithful fake of the parts of DingTalk a robot uses, on 127.0.0.1:
 * - the OpenAPI (api.dingtalk.com): /v1.0/oauth2/accessToken, /v1.0/robot/oToMessages/batchSend,
 *   /v1.0/robot/groupMessages/send, /v1.0/robot/messageFiles/download, /v1.0/gateway/connections/open,
 *   with DingTalk's error shape ({code, message, requestid}) and its 403 QPS-limit answers;
 * - session webhooks (oapi.dingtalk.com/robot/sendBySession?session=…) answering {errcode, errmsg};
 * - file downloads behind the URLs messageFiles/download hands out;
 * - the Stream-mode WebSocket gateway (SYSTEM / CALLBACK frames, acknowledgements);
 * - and DingTalk itself calling the robot: signed HTTP callbacks, or CALLBACK frames in Stream mode.
 */

export const TEXT_LIMIT = 5_000;
const TOKEN_TTL_S = 7_200;

export interface RecordedSend {
  via: 'session' | 'oto' | 'group';
  /** The DingTalk conversation the message landed in. */
  conversationId: string;
  msgtype: string;
  title?: string;
  text: string;
  at: number;
}

export interface RobotMessageInput {
  chat: 'direct' | 'group';
  conversationId: string;
  userId: string;
  text: string;
  /** Group messages: whether the robot was @-mentioned. */
  mention?: boolean;
  /** Sends a picture instead of text (the downloadCode of a file added with addFile). */
  pictureDownloadCode?: string;
  /** Session webhook lifetime for this message; negative makes it already expired. */
  sessionTtlMs?: number;
}

export interface FakeDingtalkOptions {
  appKey?: string;
  appSecret?: string;
}

type Fault = 'rate_limit' | 'server_error';

interface Session {
  conversationId: string;
  expiresAt: number;
}

export class FakeDingtalk {
  readonly appKey: string;
  readonly appSecret: string;
  readonly chatbotUserId = `$:LWCP_v1:$${randomBytes(12).toString('base64')}`;
  readonly corpId = `ding${randomBytes(8).toString('hex')}`;
  url = '';
  /** Messages that reached a chat, oldest first. */
  readonly sends: RecordedSend[] = [];
  /** Every send attempt (session webhook, batchSend, groupMessages/send), failed ones included. */
  sendCalls = 0;
  tokensIssued = 0;
  /** Default session webhook lifetime; DingTalk's is about 90 minutes. */
  sessionTtlMs = 90 * 60 * 1000;
  /** Stream-mode connections accepted so far (reconnects included). */
  streamsOpened = 0;
  /** Stream-mode frames the client answered with code 200, by messageId, with their parsed data. */
  readonly streamAcks = new Map<string, unknown>();

  private readonly server = createServer((req, res) => {
    this.route(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { code: 'InternalError', message: String(err) });
    });
  });
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sockets = new Set<Socket>();
  private readonly faults: Fault[] = [];
  private readonly tokens = new Map<string, number>();
  private readonly sessions = new Map<string, Session>();
  private readonly files = new Map<string, { name: string; data: Buffer }>();
  private readonly fileUrls = new Map<string, string>();
  /** Staff id -> the direct conversation DingTalk keeps between that person and the robot. */
  private readonly directChats = new Map<string, string>();
  private readonly groups = new Set<string>();
  private readonly tickets = new Set<string>();
  private readonly streams = new Set<WebSocket>();

  constructor(o: FakeDingtalkOptions = {}) {
    this.appKey = o.appKey ?? `ding${randomBytes(8).toString('hex')}`;
    this.appSecret = o.appSecret ?? randomBytes(32).toString('base64url');
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const ticket = url.searchParams.get('ticket') ?? '';
      if (url.pathname !== '/connect' || !this.tickets.delete(ticket)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onStream(ws));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const ws of this.streams) ws.terminate();
    this.wss.close();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next n send calls fail: throttled (errcode 130101 / 403 QpsLimit) or HTTP 500; 0 stops failing. */
  failNextSends(n: number, kind: Fault): void {
    this.faults.length = 0;
    for (let i = 0; i < n; i++) this.faults.push(kind);
  }

  /** Invalidates every access token issued, as resetting the AppSecret does. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  /** Makes a file downloadable; returns its downloadCode. */
  addFile(name: string, data: Buffer): string {
    const code = randomBytes(16).toString('base64url');
    this.files.set(code, { name, data });
    return code;
  }

  /** The robot message DingTalk would deliver for a user's message, as sent by callback or stream. */
  robotMessage(m: RobotMessageInput): Record<string, unknown> {
    const group = m.chat === 'group';
    if (group) this.groups.add(m.conversationId);
    else this.directChats.set(m.userId, m.conversationId);
    const session = randomBytes(16).toString('hex');
    const expiresAt = Date.now() + (m.sessionTtlMs ?? this.sessionTtlMs);
    this.sessions.set(session, { conversationId: m.conversationId, expiresAt });
    const mentioned = group && m.mention === true;
    const base = {
      conversationId: m.conversationId,
      conversationType: group ? '2' : '1',
      ...(group ? { conversationTitle: 'Test group' } : {}),
      msgId: `msg${randomBytes(12).toString('base64')}`,
      createAt: Date.now(),
      senderNick: `Nick ${m.userId}`,
      senderId: `$:LWCP_v1:$${Buffer.from(m.userId).toString('base64')}`,
      senderStaffId: m.userId,
      senderCorpId: this.corpId,
      isAdmin: false,
      chatbotCorpId: this.corpId,
      chatbotUserId: this.chatbotUserId,
      robotCode: this.appKey,
      ...(group ? { isInAtList: mentioned } : {}),
      ...(mentioned ? { atUsers: [{ dingtalkId: this.chatbotUserId }] } : {}),
      sessionWebhook: `${this.url}/robot/sendBySession?session=${session}`,
      sessionWebhookExpiredTime: expiresAt,
    };
    if (m.pictureDownloadCode) {
      return { ...base, msgtype: 'picture', content: { downloadCode: m.pictureDownloadCode } };
    }
    // DingTalk removes the robot's @-mention from the text and leaves the space that followed it.
    return { ...base, msgtype: 'text', text: { content: mentioned ? ` ${m.text}` : m.text } };
  }

  /** The headers DingTalk signs a callback with (timestamp in ms, sign = HMAC over it). */
  signHeaders(secret = this.appSecret, timestamp = Date.now()): Record<string, string> {
    const ts = String(timestamp);
    const sign = createHmac('sha256', secret).update(`${ts}\n${secret}`, 'utf8').digest('base64');
    return { timestamp: ts, sign };
  }

  /** POSTs a robot message to the connector's callback URL as DingTalk does; returns the HTTP status. */
  async postCallback(
    callbackUrl: string,
    body: Record<string, unknown>,
    headers: Record<string, string> = this.signHeaders(),
  ): Promise<number> {
    const res = await fetch(callbackUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
      body: JSON.stringify(body),
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** Number of Stream-mode connections currently open. */
  get streamConnections(): number {
    return this.streams.size;
  }

  /** Pushes a robot message over every open Stream connection; returns the frame's messageId. */
  pushStreamCallback(body: Record<string, unknown>, messageId = randomBytes(12).toString('hex')): string {
    const frame = {
      specVersion: '1.0',
      type: 'CALLBACK',
      headers: {
        appId: this.appKey,
        connectionId: 'conn',
        contentType: 'application/json',
        messageId,
        time: String(Date.now()),
        topic: '/v1.0/im/bot/messages/get',
      },
      data: JSON.stringify(body),
    };
    for (const ws of this.streams) ws.send(JSON.stringify(frame));
    return messageId;
  }

  /** Sends a SYSTEM frame (ping, disconnect) over every open Stream connection. */
  pushSystem(topic: string, data: unknown = {}): string {
    const messageId = randomBytes(8).toString('hex');
    const frame = {
      specVersion: '1.0',
      type: 'SYSTEM',
      headers: { contentType: 'application/json', messageId, time: String(Date.now()), topic },
      data: JSON.stringify(data),
    };
    for (const ws of this.streams) ws.send(JSON.stringify(frame));
    return messageId;
  }

  private onStream(ws: WebSocket): void {
    this.streams.add(ws);
    this.streamsOpened++;
    ws.on('close', () => this.streams.delete(ws));
    ws.on('message', (raw) => {
      let frame: { code?: number; headers?: { messageId?: string }; data?: string };
      try {
        frame = JSON.parse(String(raw));
      } catch {
        ws.close(1003, 'frames are JSON');
        return;
      }
      const id = frame.headers?.messageId;
      if (frame.code === 200 && id) this.streamAcks.set(id, parseParam(frame.data));
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname.startsWith('/files/')) return this.download(url, res);
    if (req.method !== 'POST') return json(res, 405, apiError('MethodNotAllowed', 'use POST'));
    const body = await readJson(req);
    if (body === undefined) return json(res, 400, apiError('InvalidParameter.Body', 'body is not JSON'));
    switch (url.pathname) {
      case '/robot/sendBySession':
        return this.sendBySession(url, body, res);
      case '/v1.0/oauth2/accessToken':
        return this.accessToken(body, res);
      case '/v1.0/gateway/connections/open':
        return this.openConnection(body, res);
    }
    if (!this.authorised(req)) {
      return json(res, 401, apiError('InvalidAuthentication', '不合法的access_token'));
    }
    switch (url.pathname) {
      case '/v1.0/robot/oToMessages/batchSend':
        return this.batchSend(body, res);
      case '/v1.0/robot/groupMessages/send':
        return this.groupSend(body, res);
      case '/v1.0/robot/messageFiles/download':
        return this.messageFile(body, res);
    }
    json(res, 404, apiError('NotFound', `no such API ${url.pathname}`));
  }

  private accessToken(body: Record<string, unknown>, res: ServerResponse) {
    if (body.appKey !== this.appKey) return json(res, 400, apiError('invalidClientId', '无效的appKey'));
    if (body.appSecret !== this.appSecret) {
      return json(res, 400, apiError('invalidClientSecret', '无效的appSecret'));
    }
    const token = randomBytes(16).toString('hex');
    this.tokens.set(token, Date.now() + TOKEN_TTL_S * 1000);
    this.tokensIssued++;
    json(res, 200, { accessToken: token, expireIn: TOKEN_TTL_S });
  }

  private openConnection(body: Record<string, unknown>, res: ServerResponse) {
    if (body.clientId !== this.appKey || body.clientSecret !== this.appSecret) {
      return json(res, 401, apiError('InvalidAuthentication', 'clientId or clientSecret invalid'));
    }
    const ticket = randomBytes(16).toString('hex');
    this.tickets.add(ticket);
    json(res, 200, { endpoint: `${this.url.replace(/^http/, 'ws')}/connect`, ticket });
  }

  private authorised(req: IncomingMessage): boolean {
    const token = req.headers['x-acs-dingtalk-access-token'];
    const expires = typeof token === 'string' ? this.tokens.get(token) : undefined;
    return expires !== undefined && expires > Date.now();
  }

  /** Applies an injected fault to a send call; true when the call was answered with it. */
  private fault(res: ServerResponse, via: RecordedSend['via']): boolean {
    this.sendCalls++;
    const f = this.faults.shift();
    if (!f) return false;
    if (f === 'server_error') {
      json(
        res,
        500,
        via === 'session'
          ? { errcode: -1, errmsg: '系统繁忙' }
          : apiError('ServiceUnavailable', '服务暂不可用'),
      );
    } else if (via === 'session') {
      json(res, 200, { errcode: 130101, errmsg: 'send too fast, exceed 20 times per minute' });
    } else {
      json(
        res,
        403,
        apiError('Forbidden.AccessDenied.QpsLimitForAppkeyAndApi', '应用调用该接口的QPS超过限制'),
      );
    }
    return true;
  }

  private sendBySession(url: URL, body: Record<string, unknown>, res: ServerResponse) {
    const session = this.sessions.get(url.searchParams.get('session') ?? '');
    if (!session || session.expiresAt <= Date.now()) {
      this.sendCalls++;
      return json(res, 200, { errcode: 300001, errmsg: 'session is not exist or expired' });
    }
    if (this.fault(res, 'session')) return;
    const msgtype = typeof body.msgtype === 'string' ? body.msgtype : '';
    const content = body[msgtype] as { title?: unknown; text?: unknown; content?: unknown } | undefined;
    const text = msgtype === 'text' ? content?.content : content?.text;
    if (
      !content ||
      typeof text !== 'string' ||
      (msgtype === 'markdown' && typeof content.title !== 'string')
    ) {
      return json(res, 200, { errcode: 40035, errmsg: '缺少参数 msgtype/markdown' });
    }
    if ([...text].length > TEXT_LIMIT) {
      return json(res, 200, { errcode: 40035, errmsg: `text longer than ${TEXT_LIMIT} characters` });
    }
    this.record('session', session.conversationId, msgtype, content.title, text);
    json(res, 200, { errcode: 0, errmsg: 'ok' });
  }

  private batchSend(body: Record<string, unknown>, res: ServerResponse) {
    const bad = this.checkMessage(body);
    if (bad) return json(res, 400, bad);
    if (!Array.isArray(body.userIds) || body.userIds.length === 0 || body.userIds.length > 20) {
      return json(res, 400, apiError('InvalidParameter.UserIds', 'userIds: 1 to 20 staff ids'));
    }
    if (this.fault(res, 'oto')) return;
    const msg = parseParam(body.msgParam);
    const invalid: string[] = [];
    for (const u of body.userIds as string[]) {
      const cid = this.directChats.get(u);
      if (!cid) invalid.push(u);
      else this.record('oto', cid, String(body.msgKey), msg.title, paramText(body.msgKey, msg));
    }
    json(res, 200, {
      processQueryKey: randomBytes(16).toString('base64'),
      invalidStaffIdList: invalid,
      flowControlledStaffIdList: [],
    });
  }

  private groupSend(body: Record<string, unknown>, res: ServerResponse) {
    const bad = this.checkMessage(body);
    if (bad) return json(res, 400, bad);
    const cid = body.openConversationId;
    if (typeof cid !== 'string' || !this.groups.has(cid)) {
      return json(res, 400, apiError('InvalidParameter.OpenConversationId', '机器人不在该群中'));
    }
    if (this.fault(res, 'group')) return;
    const msg = parseParam(body.msgParam);
    this.record('group', cid, String(body.msgKey), msg.title, paramText(body.msgKey, msg));
    json(res, 200, { processQueryKey: randomBytes(16).toString('base64') });
  }

  /** The checks batchSend and groupMessages/send share: robotCode, msgKey and msgParam. */
  private checkMessage(body: Record<string, unknown>): Record<string, unknown> | undefined {
    if (body.robotCode !== this.appKey) return apiError('InvalidParameter.RobotCode', 'robotCode不存在');
    if (body.msgKey !== 'sampleMarkdown' && body.msgKey !== 'sampleText') {
      return apiError('InvalidParameter.MsgKey', `msgKey ${String(body.msgKey)} not supported by the fake`);
    }
    const p = parseParam(body.msgParam);
    const text = paramText(body.msgKey, p);
    if (!text || (body.msgKey === 'sampleMarkdown' && typeof p.title !== 'string')) {
      return apiError('InvalidParameter.MsgParam', 'msgParam must be a JSON string with title and text');
    }
    if ([...text].length > TEXT_LIMIT) {
      return apiError('InvalidParameter.MsgParam', `text longer than ${TEXT_LIMIT} characters`);
    }
    return undefined;
  }

  private messageFile(body: Record<string, unknown>, res: ServerResponse) {
    if (body.robotCode !== this.appKey) {
      return json(res, 400, apiError('InvalidParameter.RobotCode', 'robotCode不存在'));
    }
    const code = typeof body.downloadCode === 'string' ? body.downloadCode : '';
    if (!this.files.has(code)) {
      return json(res, 400, apiError('InvalidParameter.DownloadCode', 'downloadCode无效'));
    }
    const path = randomBytes(16).toString('hex');
    this.fileUrls.set(path, code);
    json(res, 200, { downloadUrl: `${this.url}/files/${path}` });
  }

  private download(url: URL, res: ServerResponse): void {
    const code = this.fileUrls.get(url.pathname.slice('/files/'.length));
    const file = code ? this.files.get(code) : undefined;
    if (!file) {
      res.writeHead(404, { 'content-type': 'application/xml' }).end('<Error><Code>NoSuchKey</Code></Error>');
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.data.length })
      .end(file.data);
  }

  private record(
    via: RecordedSend['via'],
    conversationId: string,
    msgtype: string,
    title: unknown,
    text: string,
  ) {
    this.sends.push({
      via,
      conversationId,
      msgtype,
      ...(typeof title === 'string' ? { title } : {}),
      text,
      at: Date.now(),
    });
  }
}

function apiError(code: string, message: string) {
  return { code, message, requestid: randomBytes(8).toString('hex').toUpperCase() };
}

/** sampleText carries `content`, sampleMarkdown `title` and `text`. */
function paramText(msgKey: unknown, p: Record<string, unknown>): string {
  const v = msgKey === 'sampleText' ? p.content : p.text;
  return typeof v === 'string' ? v : '';
}

function parseParam(v: unknown): Record<string, unknown> {
  if (typeof v !== 'string') return {};
  try {
    const p: unknown = JSON.parse(v);
    return p && typeof p === 'object' ? (p as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json;charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export async function startFakeDingtalk(o: FakeDingtalkOptions = {}): Promise<FakeDingtalk> {
  return new FakeDingtalk(o).start();
}
