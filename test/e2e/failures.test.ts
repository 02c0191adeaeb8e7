import amqplib from 'amqplib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ENVELOPE_VERSION, partitionOf } from '../../packages/core/src/index.ts';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { AMQP_URL, waitFor } from '../support/infra.ts';
import { TestStack } from '../support/stack.ts';
import { ChatClient, postMessage } from '../support/web-client.ts';

describe('failures: model fallback, apology, parking', () => {
  let llm: FakeLlm;
  let stack: TestStack;

  beforeAll(async () => {
    llm = await startFakeLlm();
    stack = await new TestStack({
      workers: 1,
      workerEnv: {
        MODEL_CHAIN: 'openai/fake-small,ollama/fake-large',
        OPENAI_BASE_URL: `${llm.url}/v1`,
        OPENAI_API_KEY: 'test-key',
        OLLAMA_URL: llm.url,
        MODEL_RETRIES: '1',
      },
    }).start();
  });
  afterAll(async () => {
    await stack?.stop();
    await llm?.close();
  });
  beforeEach(() => llm.reset());

  it('answers from the fallback model when the primary keeps failing', async () => {
    llm.setRules([{ match: { api: 'openai' }, fault: '500' }]);
    const chat = await new ChatClient(stack.web.url, stack.token, 'conv-fallback').connect();
    chat.send('are you there?');
    const [reply] = await chat.waitForReplies(1);
    expect(reply).toMatchObject({ text: 'echo: are you there?', status: 'ok' });
    const calls = llm.calls.filter((c) => c.messages.at(-1)?.content === 'are you there?');
    // The primary was tried, retried once, then the fallback answered.
    expect(calls.map((c) => `${c.api}/${c.model}`)).toEqual([
      'openai/fake-small',
      'openai/fake-small',
      'ollama/fake-large',
    ]);
    chat.close();
  });

  it('sends a clear apology when every model fails, and counts it', async () => {
    llm.setRules([{ fault: '500' }]);
    const chat = await new ChatClient(stack.web.url, stack.token, 'conv-apology').connect();
    chat.send('hello?');
    const [reply] = await chat.waitForReplies(1);
    expect(reply?.status).toBe('error');
    expect(reply?.text).toMatch(/could not get an answer from any of my models/);
    const metrics = await (await fetch(`${stack.workers[0]!.url}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_model_chain_failures_total\S* [1-9]/);
    expect(metrics).toMatch(/switchboard_model_calls_total\{[^}]*outcome="server_error"/);
    expect(stack.workers[0]!.logs.join('\n')).toMatch(/every model failed/);
    chat.close();
  });

  it('parks a message that fails every time, with the reason, tells its user, and keeps serving others', async () => {
    const conn = await amqplib.connect(AMQP_URL);
    const ch = await conn.createConfirmChannel();
    const parking = `${stack.prefix}.parking`;
    const poisonChat = await new ChatClient(stack.web.url, stack.token, 'conv-poison').connect();
    const okChat = await new ChatClient(stack.web.url, stack.token, 'conv-healthy').connect();

    // A buggy connector publishes text PostgreSQL cannot store: the turn's transaction fails every time.
    const env = {
      v: ENVELOPE_VERSION,
      kind: 'inbound',
      id: 'web:web:poison-1',
      platform: 'web',
      botId: 'web',
      conversationId: 'conv-poison',
      user: { id: 'u1' },
      text: 'bad \u0000 byte',
      attachments: [],
      receivedAt: new Date().toISOString(),
      traceId: 'trace-poison-1',
    };
    const p = partitionOf('web:web:conv-poison', 4);
    ch.publish(`${stack.prefix}.inbound`, `in.${p}.web`, Buffer.from(JSON.stringify(env)), {
      persistent: true,
      messageId: env.id,
      headers: { 'x-sb-trace-id': env.traceId },
    });
    // Something that is not an envelope at all is parked at once.
    ch.publish(`${stack.prefix}.inbound`, 'in.0.web', Buffer.from('{"hello":"world"}'), {
      persistent: true,
      messageId: 'junk-1',
    });
    await ch.waitForConfirms();

    for (let i = 0; i < 5; i++) {
      await postMessage(stack.web.url, stack.token, {
        conversationId: 'conv-healthy',
        text: `still here ${i}`,
      });
    }
    await okChat.waitForReplies(5);
    expect(okChat.replies.map((r) => r.text)).toEqual([0, 1, 2, 3, 4].map((i) => `echo: still here ${i}`));

    const parked = new Map<string, amqplib.GetMessage>();
    await waitFor('both messages parked', async () => {
      const m = await ch.get(parking, { noAck: false });
      if (m) parked.set(String(m.properties.messageId), m);
      return parked.size >= 2;
    });
    const poison = parked.get('web:web:poison-1')!;
    expect(poison.properties.headers).toMatchObject({
      'x-sb-attempts': 3,
      'x-sb-origin-queue': `${stack.prefix}.agent.in.${p}`,
      'x-sb-parking-reason': expect.stringMatching(/invalid byte sequence|0x00/),
      'x-sb-trace-id': 'trace-poison-1',
    });
    expect(JSON.parse(poison.content.toString())).toMatchObject({ id: 'web:web:poison-1' });
    expect(parked.get('junk-1')!.properties.headers).toMatchObject({
      'x-sb-error-code': 'SB_ERR_ENVELOPE_INVALID',
      'x-sb-attempts': 1,
    });
    const [failure] = await poisonChat.waitForReplies(1);
    expect(failure).toMatchObject({ status: 'error', inReplyTo: 'web:web:poison-1' });
    expect(failure?.text).toMatch(/could not be processed.*trace-poison-1/);

    await conn.close();
    poisonChat.close();
    okChat.close();
  });
});
