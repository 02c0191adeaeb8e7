import type { InboundOutcome, NormalizedMessage } from '@switchboard/connector';
import { PlatformApiError } from '@switchboard/connector';
import { createLogger, createMetricsRegistry, createServiceHttp } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type FakeSlack,
  messageEvent,
  startFakeSlack,
  urlVerification,
} from '../../../test/fakes/slack/server.ts';
import { waitFor } from '../../../test/support/infra.ts';
import { loadSlackConfig } from './config.ts';
import { slackFileOrigins } from './file-hosts.ts';
import { SlackAdapter } from './slack-adapter.ts';
import { downloadPrivateFile } from './web-api.ts';

const log = createLogger('ingress-slack-test', 'error');
const BASE_ENV = { AMQP_URL: 'amqp://localhost', DATABASE_URL: 'postgres://localhost/x' };

function config(fake: FakeSlack, extra: Record<string, string> = {}) {
  return loadSlackConfig({
    ...BASE_ENV,
    SLACK_BOT_TOKEN: fake.id.botToken,
    SLACK_SIGNING_SECRET: fake.signingSecret,
    SLACK_API_URL: fake.apiUrl,
    SLACK_API_TIMEOUT_MS: '5000',
    ...extra,
  });
}

/** A sink the test settles by hand, to see that Slack is answered only after it settled. */
class ManualSink {
  readonly received: NormalizedMessage[] = [];
  private pending: Array<{ resolve: (o: InboundOutcome) => void; reject: (e: Error) => void }> = [];
  auto: InboundOutcome | Error | undefined = 'published';

  readonly sink = (msg: NormalizedMessage): Promise<InboundOutcome> => {
    this.received.push(msg);
    if (this.auto instanceof Error) return Promise.reject(this.auto);
    if (this.auto) return Promise.resolve(this.auto);
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  };

  async waitForPending(): Promise<void> {
    await waitFor('the sink to be called', () => this.pending.length > 0, 5_000);
  }

  settle(outcome: InboundOutcome | Error): void {
    const p = this.pending.shift()!;
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  }
}

describe('config', () => {
  it('names what is missing', () => {
    expect(() => loadSlackConfig({ ...BASE_ENV, SLACK_SIGNING_SECRET: 'abcdefgh12345678' })).toThrow(
      /SLACK_BOT_TOKEN: is required/,
    );
    expect(() => loadSlackConfig({ ...BASE_ENV, SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(
      /SLACK_SIGNING_SECRET: is required/,
    );
    expect(() =>
      loadSlackConfig({
        ...BASE_ENV,
        SLACK_BOT_TOKEN: 'xoxp-user-token',
        SLACK_SIGNING_SECRET: 'abcdefgh12345678',
      }),
    ).toThrow(/SLACK_BOT_TOKEN: must be a bot token/);
    expect(
      loadSlackConfig({ ...BASE_ENV, SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' }),
    ).toMatchObject({
      SLACK_API_URL: 'https://slack.com/api/',
      SLACK_EVENTS_PATH: '/slack/events',
    });
  });
});

describe('SlackAdapter over the Events API', () => {
  let fake: FakeSlack;
  let http: FastifyInstance;
  let adapter: SlackAdapter;
  let events: string;
  const sink = new ManualSink();

  beforeAll(async () => {
    fake = await startFakeSlack();
    const registry = createMetricsRegistry('ingress-slack-test');
    adapter = await SlackAdapter.create(config(fake), { log, registry });
    http = createServiceHttp({ log, registry, readiness: {}, fastify: { bodyLimit: 1_048_576 } });
    await adapter.start({ sink: sink.sink, http });
    events = `${await http.listen({ host: '127.0.0.1', port: 0 })}/slack/events`;
  });
  afterAll(async () => {
    await http?.close();
    await fake?.close();
  });
  beforeEach(() => {
    sink.received.length = 0;
    sink.auto = 'published';
  });

  it('learns its identity from auth.test and refuses a token Slack does not accept', async () => {
    expect(adapter.botId).toBe(fake.id.botUserId);
    await expect(
      SlackAdapter.create(config(fake, { SLACK_BOT_TOKEN: 'xoxb-wrong' }), {
        log,
        registry: createMetricsRegistry('x'),
      }),
    ).rejects.toThrow(/SLACK_BOT_TOKEN was not accepted.*invalid_auth/);
  });

  it('answers the url_verification challenge', async () => {
    const res = await fake.postEvent(events, urlVerification('chal-123'));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ challenge: 'chal-123' });
  });

  it('acknowledges a DM only once the sink settled', async () => {
    sink.auto = undefined;
    const payload = fake.envelope(
      messageEvent({ channel: 'D1', channelType: 'im', user: 'U1', text: 'hello' }),
    );
    let answered = false;
    const res = fake.postEvent(events, payload).then((r) => {
      answered = true;
      return r;
    });
    await sink.waitForPending();
    expect(answered).toBe(false);
    sink.settle('published');
    expect((await res).status).toBe(200);
    expect(sink.received[0]).toMatchObject({ chatType: 'direct', text: 'hello', conversationId: 'D1' });
  });

  it('answers 503 when the sink rejects, so Slack redelivers', async () => {
    sink.auto = new Error('broker unavailable');
    const payload = fake.envelope(
      messageEvent({ channel: 'D1', channelType: 'im', user: 'U1', text: 'again' }),
    );
    expect((await fake.postEvent(events, payload)).status).toBe(503);
    sink.auto = 'published';
    expect((await fake.postEvent(events, payload, { retryNum: 1 })).status).toBe(200);
    expect(sink.received.map((m) => m.platformMessageId)).toEqual([
      sink.received[0]!.platformMessageId,
      sink.received[0]!.platformMessageId,
    ]);
  });

  it('refuses unsigned, forged and stale requests with 401 and hands nothing on', async () => {
    const payload = fake.envelope(
      messageEvent({ channel: 'D1', channelType: 'im', user: 'U1', text: 'evil' }),
    );
    expect((await fake.postEvent(events, payload, { signature: null })).status).toBe(401);
    expect((await fake.postEvent(events, payload, { signingSecret: 'someone-elses-secret' })).status).toBe(
      401,
    );
    const stale = Math.floor(Date.now() / 1000) - 600;
    expect((await fake.postEvent(events, payload, { timestamp: stale })).status).toBe(401);
    expect(sink.received).toEqual([]);
  });

  it('answers 400 to a signed body that is not an event it can read', async () => {
    expect((await fake.postEvent(events, { type: 'event_callback', event: 'nope' })).status).toBe(400);
    const res = await fetch(events, { method: 'POST', body: 'x' }).then((r) => r.status);
    expect(res).toBe(401);
  });

  it("acknowledges the bot's own messages without handing them on", async () => {
    const own = fake.envelope(
      messageEvent({ channel: 'C1', channelType: 'channel', user: fake.id.botUserId, text: 'my reply' }),
    );
    expect((await fake.postEvent(events, own)).status).toBe(200);
    expect(sink.received).toEqual([]);
  });

  it('does not disturb the JSON parsing of the other routes', async () => {
    expect((await fetch(events.replace('/slack/events', '/healthz'))).status).toBe(200);
  });
});

describe('SlackAdapter sending', () => {
  let fake: FakeSlack;
  let adapter: SlackAdapter;

  beforeAll(async () => {
    fake = await startFakeSlack();
    adapter = await SlackAdapter.create(config(fake), { log, registry: createMetricsRegistry('x') });
  });
  afterAll(() => fake?.close());

  const target = {
    conversationId: 'C1:100.1',
    inReplyTo: 'slack:U:C1:100.1',
    context: { channel: 'C1', threadTs: '100.1' },
  };

  it('posts into the thread of the message answered, as mrkdwn', async () => {
    const ts = await adapter.sendText(target, adapter.format('**bold** and `code`'));
    const posted = fake.api.posted.at(-1)!;
    expect(posted).toMatchObject({ channel: 'C1', threadTs: '100.1', ts, text: '*bold* and `code`' });
    const call = fake.api.calls.filter((c) => c.method === 'chat.postMessage').at(-1)!;
    expect(call.args).toMatchObject({ mrkdwn: 'true', unfurl_links: 'false' });
  });

  it('finds channel and thread in the conversation id when the context is gone', async () => {
    await adapter.sendText({ conversationId: 'C2:200.2', inReplyTo: 'x', context: undefined }, 'hi');
    expect(fake.api.posted.at(-1)).toMatchObject({ channel: 'C2', threadTs: '200.2' });
    await adapter.sendText({ conversationId: 'D3', inReplyTo: 'x', context: undefined }, 'hi');
    expect(fake.api.posted.at(-1)).toMatchObject({ channel: 'D3', threadTs: undefined });
  });

  it('uploads files into the thread through the external upload flow', async () => {
    const data = Buffer.from('col1,col2\n1,2\n');
    const id = await adapter.sendFile(target, { name: 'report.csv', mimeType: 'text/csv', data });
    expect(id).toMatch(/^F/);
    expect(fake.api.posted.at(-1)).toMatchObject({ channel: 'C1', threadTs: '100.1', files: ['report.csv'] });
    expect(fake.api.uploads.get(id!)?.data?.equals(data)).toBe(true);
  });

  it('reports 429 with the Retry-After and 5xx as retryable, the WebClient not retrying on its own', async () => {
    fake.failNextSends(1, 'rate_limit');
    const before = fake.api.sendCalls();
    const limited = await adapter.sendText(target, 'x').catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(PlatformApiError);
    expect(limited).toMatchObject({ status: 429, retryAfterMs: 1000, retryable: true });
    expect(fake.api.sendCalls()).toBe(before + 1);

    fake.failNextSends(1, 'server_error');
    const failed = await adapter.sendText(target, 'x').catch((e: unknown) => e);
    expect(failed).toMatchObject({ status: 500, retryable: true });
    expect(fake.api.sendCalls()).toBe(before + 2);
  });

  it('reports Slack errors that retrying cannot fix as final', async () => {
    const err = await adapter
      .sendText({ conversationId: '', inReplyTo: 'x', context: undefined }, 'x')
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ retryable: false, message: expect.stringContaining('channel_not_found') });
  });
});

describe('Slack file downloads', () => {
  let fake: FakeSlack;
  let http: FastifyInstance;
  const sink = new ManualSink();
  let events: string;

  beforeAll(async () => {
    fake = await startFakeSlack();
    const registry = createMetricsRegistry('x');
    const adapter = await SlackAdapter.create(config(fake), { log, registry });
    http = createServiceHttp({ log, registry, readiness: {} });
    await adapter.start({ sink: sink.sink, http });
    events = `${await http.listen({ host: '127.0.0.1', port: 0 })}/slack/events`;
  });
  afterAll(async () => {
    await http?.close();
    await fake?.close();
  });
  afterEach(() => {
    sink.received.length = 0;
  });

  it('fetches url_private with the bot token, capped', async () => {
    const file = fake.api.addUserFile('notes.txt', 'text/plain', Buffer.from('0123456789'));
    const payload = fake.envelope(
      messageEvent({
        channel: 'D1',
        channelType: 'im',
        user: 'U1',
        text: 'see',
        subtype: 'file_share',
        files: [file],
      }),
    );
    expect((await fake.postEvent(events, payload)).status).toBe(200);
    const [a] = sink.received[0]!.attachments;
    expect(a).toMatchObject({ kind: 'file', name: 'notes.txt', size: 10 });
    expect((await a!.download(100)).toString()).toBe('0123456789');
    await expect(a!.download(5)).rejects.toThrow(/over the 5 bytes limit/);
  });

  it("reports Slack's sign-in page (token without files:read) instead of storing it", async () => {
    const file = fake.api.addUserFile('data.bin', 'application/octet-stream', Buffer.from('abc'));
    await expect(
      downloadPrivateFile(file.url_private, {
        token: 'xoxb-other',
        maxBytes: 100,
        name: 'data.bin',
        timeoutMs: 5000,
        allowedOrigins: slackFileOrigins(fake.apiUrl),
      }),
    ).rejects.toThrow(/sign-in page.*files:read/);
  });

  it('refuses to send the bot token to a URL that is not a Slack file host', async () => {
    for (const url of [
      'https://files.slack.com.evil.test/x',
      'http://files.slack.com/x',
      'https://u:p@files.slack.com/x',
    ]) {
      await expect(
        downloadPrivateFile(url, {
          token: 'xoxb-secret',
          maxBytes: 100,
          name: 'x.bin',
          timeoutMs: 5000,
          allowedOrigins: slackFileOrigins(fake.apiUrl),
        }),
        url,
      ).rejects.toMatchObject({ code: 'SB_ERR_ATTACHMENT_REFUSED', retryable: false });
    }
  });
});
