import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Fakes of the two group robots alerts go to, on 127.0.0.1, answering as the real ones do: HTTP 200
 * with `{errcode, errmsg}`, errcode 0 on success.
 * - WeCom: POST /cgi-bin/webhook/send?key=KEY (93000 unknown key, 40008 bad msgtype, 44004 empty,
 *   40058 markdown over 4096 bytes, 45009 over 20 messages a minute).
 * - DingTalk: POST /robot/send?access_token=TOKEN&timestamp=&sign= (300001 unknown token, 310000
 *   signature missing, stale (over an hour) or wrong, 400102 bad msgtype/markdown, 130101 over 20 a minute).
 */

export const PER_MINUTE_LIMIT = 20;

export interface RobotMessage {
  robot: 'wecom' | 'dingtalk';
  msgtype: string;
  /** WeCom markdown content, or DingTalk markdown text. */
  text: string;
  /** DingTalk only: the notification title. */
  title?: string;
  at: number;
}

/** One injected failure, consumed by the next request to that robot. */
export type RobotFault =
  | { kind: 'errcode'; errcode: number; errmsg: string }
  | { kind: 'http'; status: number };

export class FakeRobots {
  readonly wecomKey = randomBytes(12).toString('hex');
  readonly dingtalkToken = randomBytes(16).toString('hex');
  readonly dingtalkSecret = `SEC${randomBytes(24).toString('hex')}`;
  url = '';
  /** Messages each robot accepted, in order. */
  readonly accepted: RobotMessage[] = [];
  /** Every request that reached a robot, accepted or not, with the errcode (or HTTP status) it got. */
  readonly requests: Array<{ robot: 'wecom' | 'dingtalk'; answer: number; at: number }> = [];
  private readonly faults: Record<'wecom' | 'dingtalk', RobotFault[]> = { wecom: [], dingtalk: [] };
  private readonly server = createServer((req, res) => void this.handle(req, res));

  get wecomUrl(): string {
    return `${this.url}/cgi-bin/webhook/send?key=${this.wecomKey}`;
  }

  get dingtalkUrl(): string {
    return `${this.url}/robot/send?access_token=${this.dingtalkToken}`;
  }

  /** The next requests to `robot` fail as given, one fault per request. */
  failNext(robot: 'wecom' | 'dingtalk', ...faults: RobotFault[]): void {
    this.faults[robot].push(...faults);
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    const robot =
      url.pathname === '/cgi-bin/webhook/send'
        ? 'wecom'
        : url.pathname === '/robot/send'
          ? 'dingtalk'
          : undefined;
    if (!robot || req.method !== 'POST') {
      res.writeHead(404).end();
      return;
    }
    const answer = (status: number, errcode: number, errmsg: string) => {
      this.requests.push({ robot, answer: status === 200 ? errcode : status, at: Date.now() });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ errcode, errmsg }));
    };
    const fault = this.faults[robot].shift();
    if (fault?.kind === 'http') return answer(fault.status, -1, 'system busy');
    if (fault?.kind === 'errcode') return answer(200, fault.errcode, fault.errmsg);

    let body: { msgtype?: unknown; markdown?: { content?: unknown; title?: unknown; text?: unknown } };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return answer(200, robot === 'wecom' ? 40008 : 400102, 'invalid json');
    }
    const now = Date.now();
    const recent = this.accepted.filter((m) => m.robot === robot && m.at > now - 60_000).length;

    if (robot === 'wecom') {
      if (url.searchParams.get('key') !== this.wecomKey) return answer(200, 93000, 'invalid webhook url');
      if (body.msgtype !== 'markdown') return answer(200, 40008, 'invalid message type');
      const content = body.markdown?.content;
      if (typeof content !== 'string' || content.length === 0) return answer(200, 44004, 'empty content');
      if (Buffer.byteLength(content, 'utf8') > 4_096) return answer(200, 40058, 'content exceed max length');
      if (recent >= PER_MINUTE_LIMIT) return answer(200, 45009, 'api freq out of limit');
      this.accepted.push({ robot, msgtype: 'markdown', text: content, at: now });
      return answer(200, 0, 'ok');
    }

    if (url.searchParams.get('access_token') !== this.dingtalkToken)
      return answer(200, 300001, 'token is not exist');
    const signError = this.checkSign(url.searchParams.get('timestamp'), url.searchParams.get('sign'), now);
    if (signError)
      return answer(200, 310000, `keywords not in content, timestamp invalid, sign not match: ${signError}`);
    const md = body.markdown;
    if (
      body.msgtype !== 'markdown' ||
      typeof md?.title !== 'string' ||
      typeof md.text !== 'string' ||
      !md.text
    ) {
      return answer(200, 400102, 'invalid markdown message');
    }
    if (recent >= PER_MINUTE_LIMIT) return answer(200, 130101, 'send too fast, exceed 20 times per minute');
    this.accepted.push({ robot, msgtype: 'markdown', title: md.title, text: md.text, at: now });
    return answer(200, 0, 'ok');
  }

  /** DingTalk's check: sign = base64(HMAC-SHA256(secret, timestamp + "\n" + secret)), timestamp within an hour. */
  private checkSign(timestamp: string | null, sign: string | null, now: number): string | undefined {
    if (!timestamp || !sign) return 'missing timestamp or sign';
    if (!/^\d{13}$/.test(timestamp) || Math.abs(now - Number(timestamp)) > 3_600_000)
      return 'stale timestamp';
    const expected = createHmac('sha256', this.dingtalkSecret)
      .update(`${timestamp}\n${this.dingtalkSecret}`, 'utf8')
      .digest();
    const given = Buffer.from(sign, 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'sign mismatch';
    return undefined;
  }
}

export async function startFakeRobots(): Promise<FakeRobots> {
  return new FakeRobots().start();
}
