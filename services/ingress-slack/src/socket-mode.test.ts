import type { InboundOutcome, NormalizedMessage } from '@switchboard/connector';
import { createLogger, createMetricsRegistry, createServiceHttp } from '@switchboard/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeSlack, messageEvent, startFakeSlack } from '../../../test/fakes/slack/server.ts';
import { waitFor } from '../../../test/support/infra.ts';
import { loadSlackConfig } from './config.ts';
import { SlackAdapter } from './slack-adapter.ts';

const log = createLogger('ingress-slack-test', 'error');

async function startAdapter(fake: FakeSlack, sink: (m: NormalizedMessage) => Promise<InboundOutcome>) {
  const cfg = loadSlackConfig({
    AMQP_URL: 'amqp://localhost',
    DATABASE_URL: 'postgres://localhost/x',
    SLACK_BOT_TOKEN: fake.id.botToken,
    SLACK_APP_TOKEN: fake.id.appToken,
    SLACK_API_URL: fake.apiUrl,
  });
  const registry = createMetricsRegistry('x');
  const adapter = await SlackAdapter.create(cfg, { log, registry });
  await adapter.start({ sink, http: createServiceHttp({ log, registry, readiness: {} }) });
  return adapter;
}

async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  await waitFor(what, () => check() || undefined, timeoutMs);
}

describe('SlackAdapter over Socket Mode', () => {
  let fake: FakeSlack | undefined;
  let adapter: SlackAdapter | undefined;
  afterEach(async () => {
    await adapter?.stop();
    await fake?.close();
  });

  it('connects with the app token and acknowledges an envelope only after the sink settled', async () => {
    fake = await startFakeSlack();
    let settle: ((o: InboundOutcome) => void) | undefined;
    const received: NormalizedMessage[] = [];
    adapter = await startAdapter(fake, (m) => {
      received.push(m);
      return new Promise((resolve) => {
        settle = resolve;
      });
    });
    expect(adapter.isReady()).toBe(true);
    expect(fake.api.calls.map((c) => c.method)).toContain('apps.connections.open');

    const envelopeId = fake.socket.sendEvent(
      fake.envelope(messageEvent({ channel: 'D1', channelType: 'im', user: 'U1', text: 'over the socket' })),
    );
    await until(() => settle !== undefined, 'the sink to be called');
    expect(received[0]).toMatchObject({ text: 'over the socket', chatType: 'direct' });
    expect(fake.socket.acks.map((a) => a.envelopeId)).not.toContain(envelopeId);

    settle!('published');
    await fake.socket.waitFor(
      () => fake!.socket.acks.some((a) => a.envelopeId === envelopeId),
      5_000,
      'the ack',
    );
  });

  it('leaves an envelope unacknowledged when the sink rejects', async () => {
    fake = await startFakeSlack();
    let calls = 0;
    adapter = await startAdapter(fake, async () => {
      calls++;
      if (calls === 1) throw new Error('broker unavailable');
      return 'published';
    });
    const payload = fake.envelope(messageEvent({ channel: 'D1', channelType: 'im', user: 'U1', text: 'x' }));
    const first = fake.socket.sendEvent(payload);
    // The second delivery is Slack's retry; once it is acknowledged the first was long decided.
    const second = fake.socket.sendEvent(payload, 1);
    await fake.socket.waitFor(
      () => fake!.socket.acks.some((a) => a.envelopeId === second),
      5_000,
      'the retry ack',
    );
    expect(fake.socket.acks.map((a) => a.envelopeId)).not.toContain(first);
    expect(calls).toBe(2);
  });

  it('reconnects when Slack asks it to, and keeps taking events', async () => {
    fake = await startFakeSlack();
    const received: string[] = [];
    adapter = await startAdapter(fake, async (m) => {
      received.push(m.text);
      return 'published';
    });
    const opens = () => fake!.api.calls.filter((c) => c.method === 'apps.connections.open').length;
    expect(opens()).toBe(1);
    fake.socket.sendDisconnect();
    await until(() => !adapter!.isReady(), 'the adapter to report the lost connection');
    // The SDK waits one client ping timeout (5 s) before it reconnects.
    await until(() => adapter!.isReady() && fake!.socket.connections() === 1, 'the reconnection', 15_000);
    expect(opens()).toBe(2);
    const id = fake.socket.sendEvent(
      fake.envelope(messageEvent({ channel: 'D1', channelType: 'im', user: 'U1', text: 'after reconnect' })),
    );
    await fake.socket.waitFor(() => fake!.socket.acks.some((a) => a.envelopeId === id), 5_000, 'the ack');
    expect(received).toEqual(['after reconnect']);
  }, 30_000);

  it('refuses to start with an app token Slack does not accept', async () => {
    fake = await startFakeSlack();
    const cfg = loadSlackConfig({
      AMQP_URL: 'amqp://localhost',
      DATABASE_URL: 'postgres://localhost/x',
      SLACK_BOT_TOKEN: fake.id.botToken,
      SLACK_APP_TOKEN: 'xapp-1-wrong',
      SLACK_API_URL: fake.apiUrl,
    });
    const registry = createMetricsRegistry('x');
    const a = await SlackAdapter.create(cfg, { log, registry });
    await expect(
      a.start({ sink: async () => 'published', http: createServiceHttp({ log, registry, readiness: {} }) }),
    ).rejects.toThrow(/invalid_auth/);
  });
});
