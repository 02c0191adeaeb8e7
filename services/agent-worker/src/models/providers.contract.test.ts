import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeLlm, startFakeLlm } from '../../../../test/fakes/llm/server.ts';
import { OllamaModel } from './ollama.ts';
import { OpenAiModel } from './openai.ts';
import { type ChatMessage, type ChatModel, ModelCallError } from './provider.ts';

const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'first question' },
  { role: 'assistant', content: 'first answer' },
  { role: 'user', content: 'second question' },
];

/** The failure of one call, or a test failure when the call succeeds. */
async function callError(model: ChatModel, signal = AbortSignal.timeout(10_000)): Promise<ModelCallError> {
  const err = await model.chat(conversation, signal).then(
    (r) => new Error(`expected the call to fail, got ${JSON.stringify(r)}`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelCallError);
  return err as ModelCallError;
}

/**
 * What the chain relies on from every backend, whatever its wire protocol: one suite, run against
 * each implementation talking to the fake LLM over real HTTP.
 */
function describeChatModelContract(name: string, make: (fakeUrl: string, model: string) => ChatModel): void {
  describe(`${name} honours the ChatModel contract`, () => {
    let fake: FakeLlm;
    let model: ChatModel;

    beforeAll(async () => {
      fake = await startFakeLlm();
      model = make(fake.url, 'fake-small');
    });
    afterAll(async () => {
      await fake?.close();
    });
    beforeEach(() => {
      fake.reset();
    });

    it('labels itself provider/model', () => {
      expect(model.label).toBe(`${model.provider}/fake-small`);
    });

    it('returns the reply with token counts', async () => {
      fake.setRules([{ match: { contains: 'second' }, reply: 'The answer is 42.' }]);
      const r = await model.chat(conversation, AbortSignal.timeout(10_000));
      expect(r.content).toBe('The answer is 42.');
      expect(r.promptTokens).toBeGreaterThan(0);
      expect(r.completionTokens).toBeGreaterThan(0);
    });

    it('sends the whole conversation, in order, with roles, to the configured model', async () => {
      await model.chat(conversation, AbortSignal.timeout(10_000));
      expect(fake.calls).toHaveLength(1);
      const call = fake.calls[0]!;
      expect(call.model.replace(/:latest$/, '')).toBe('fake-small');
      expect(call.messages.map((m) => ({ role: m.role, content: m.content }))).toEqual(conversation);
    });

    it('reports a 429 as rate_limited, worth retrying', async () => {
      fake.setRules([{ fault: '429', retryAfterSeconds: 1 }]);
      const err = await callError(model);
      expect(err.reason).toBe('rate_limited');
      expect(err.status).toBe(429);
      expect(err.retryable).toBe(true);
    });

    it('reports a 500 as server_error, worth retrying', async () => {
      fake.setRules([{ fault: '500' }]);
      const err = await callError(model);
      expect(err.reason).toBe('server_error');
      expect(err.status).toBe(500);
      expect(err.retryable).toBe(true);
    });

    it('reports a malformed body as bad_response', async () => {
      fake.setRules([{ fault: 'malformed' }]);
      const err = await callError(model);
      expect(err.reason).toBe('bad_response');
      expect(err.retryable).toBe(true);
    });

    it('reports a connection cut mid-reply as a retryable failure', async () => {
      fake.setRules([{ fault: 'disconnect' }]);
      const err = await callError(model);
      expect(['network', 'bad_response']).toContain(err.reason);
      expect(err.retryable).toBe(true);
    });

    it('gives up on a hanging model when the signal fires, reporting timeout', async () => {
      fake.setRules([{ fault: 'hang' }]);
      const started = performance.now();
      const err = await callError(model, AbortSignal.timeout(300));
      const elapsed = performance.now() - started;
      expect(err.reason).toBe('timeout');
      expect(err.retryable).toBe(true);
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(5_000);
    });

    it('reports an unknown model as client_error, not worth retrying', async () => {
      const unknown = make(fake.url, 'no-such-model');
      const err = await callError(unknown);
      expect(err.reason).toBe('client_error');
      expect(err.status).toBe(404);
      expect(err.retryable).toBe(false);
    });

    it('reports an unreachable server as a retryable network failure', async () => {
      const down = await startFakeLlm();
      const url = down.url;
      await down.close();
      const err = await callError(make(url, 'fake-small'));
      expect(err.reason).toBe('network');
      expect(err.retryable).toBe(true);
    });
  });
}

describeChatModelContract('OllamaModel', (url, model) => new OllamaModel(model, url));
describeChatModelContract('OpenAiModel', (url, model) => new OpenAiModel(model, `${url}/v1`, 'test-key'));
