import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeLlm, startFakeLlm } from '../../../../test/fakes/llm/server.ts';
import { OllamaModel } from './ollama.ts';
import { OpenAiModel } from './openai.ts';
import { type ChatMessage, type ChatModel, ModelCallError, type ToolSpec } from './provider.ts';

const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'first question' },
  { role: 'assistant', content: 'first answer' },
  { role: 'user', content: 'second question' },
];

const weather: ToolSpec = {
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const clock: ToolSpec = { name: 'get_time', description: 'The time now', parameters: { type: 'object' } };

/** How one provider's API carries a tool round: the assistant's calls and a tool's result. */
interface ToolWire {
  assistantCall(id: string, name: string, args: Record<string, unknown>): Record<string, unknown>;
  toolResult(id: string, name: string, content: string): Record<string, unknown>;
}

/** The failure of one call, or a test failure when the call succeeds. */
async function callError(
  model: ChatModel,
  signal = AbortSignal.timeout(10_000),
  tools?: ToolSpec[],
): Promise<ModelCallError> {
  const err = await model.chat(conversation, signal, tools ? { tools } : undefined).then(
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
function describeChatModelContract(
  name: string,
  make: (fakeUrl: string, model: string) => ChatModel,
  wire: ToolWire,
): void {
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

    it('sends no tools field when no tools are offered', async () => {
      await model.chat(conversation, AbortSignal.timeout(10_000));
      await model.chat(conversation, AbortSignal.timeout(10_000), { tools: [] });
      expect(fake.calls.map((c) => c.tools)).toEqual([undefined, undefined]);
      expect(fake.calls.map((c) => 'tools' in c.body)).toEqual([false, false]);
    });

    it('offers tools natively as functions with name, description and JSON Schema parameters', async () => {
      await model.chat(conversation, AbortSignal.timeout(10_000), { tools: [weather, clock] });
      expect(fake.calls[0]!.tools).toEqual([
        { type: 'function', function: weather },
        { type: 'function', function: clock },
      ]);
    });

    it('returns the tool calls the model asked for, in order, with object arguments and unique ids', async () => {
      fake.setRules([
        {
          toolCalls: [
            { name: 'get_weather', arguments: { city: 'Paris' } },
            { name: 'get_time', arguments: { zone: 'Europe/Paris', verbose: true, n: [1, 2] } },
          ],
        },
      ]);
      const r = await model.chat(conversation, AbortSignal.timeout(10_000), { tools: [weather, clock] });
      expect(r.content).toBe('');
      expect(r.toolCalls?.map(({ name, arguments: args }) => ({ name, args }))).toEqual([
        { name: 'get_weather', args: { city: 'Paris' } },
        { name: 'get_time', args: { zone: 'Europe/Paris', verbose: true, n: [1, 2] } },
      ]);
      const ids = r.toolCalls!.map((c) => c.id);
      expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
      expect(new Set(ids).size).toBe(2);
      expect(r.promptTokens).toBeGreaterThan(0);
      expect(r.completionTokens).toBeGreaterThan(0);
    });

    it('returns text and no toolCalls when the model answers without calling a tool', async () => {
      const r = await model.chat(conversation, AbortSignal.timeout(10_000), { tools: [weather] });
      expect(r.content).toBe('echo: second question');
      expect(r.toolCalls).toBeUndefined();
    });

    it("sends a tool round back in the API's own format, and gets the final answer", async () => {
      fake.setRules([
        { times: 1, toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] },
        { reply: 'It is 18°C in Paris.' },
      ]);
      const question: ChatMessage[] = [{ role: 'user', content: 'weather in Paris?' }];
      const first = await model.chat(question, AbortSignal.timeout(10_000), { tools: [weather] });
      const call = first.toolCalls![0]!;
      const round: ChatMessage[] = [
        ...question,
        { role: 'assistant', content: first.content, toolCalls: first.toolCalls },
        { role: 'tool', toolCallId: call.id, name: call.name, content: '18°C, light rain' },
      ];
      const second = await model.chat(round, AbortSignal.timeout(10_000), { tools: [weather] });
      expect(second).toMatchObject({ content: 'It is 18°C in Paris.' });
      expect(second.toolCalls).toBeUndefined();
      expect(fake.calls[1]!.messages).toEqual([
        { role: 'user', content: 'weather in Paris?' },
        wire.assistantCall(call.id, 'get_weather', { city: 'Paris' }),
        wire.toolResult(call.id, 'get_weather', '18°C, light rain'),
      ]);
    });

    it('reports tool-call arguments that are not a JSON object as bad_response, without quoting them', async () => {
      for (const raw of ['{"city": "Par', '[1, 2]', '"Paris"']) {
        fake.setRules([{ toolCalls: [{ name: 'get_weather', arguments: {}, rawArguments: raw }] }]);
        const err = await callError(model, AbortSignal.timeout(10_000), [weather]);
        expect(err.reason).toBe('bad_response');
        expect(err.retryable).toBe(true);
        expect(err.message).toContain('get_weather');
        expect(err.message).not.toContain(raw);
      }
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

describeChatModelContract('OllamaModel', (url, model) => new OllamaModel(model, url), {
  // Ollama has no call ids: arguments travel as an object, results are matched by tool name.
  assistantCall: (_id, name, args) => ({
    role: 'assistant',
    content: '',
    tool_calls: [{ function: { name, arguments: args } }],
  }),
  toolResult: (_id, name, content) => ({ role: 'tool', content, tool_name: name }),
});
describeChatModelContract('OpenAiModel', (url, model) => new OpenAiModel(model, `${url}/v1`, 'test-key'), {
  assistantCall: (id, name, args) => ({
    role: 'assistant',
    content: null,
    tool_calls: [{ id, type: 'function', function: { name, arguments: JSON.stringify(args) } }],
  }),
  toolResult: (id, _name, content) => ({ role: 'tool', content, tool_call_id: id }),
});

describe('OpenAiModel tool-call details', () => {
  let fake: FakeLlm;
  beforeAll(async () => {
    fake = await startFakeLlm();
  });
  afterAll(async () => {
    await fake?.close();
  });

  it('reads an empty arguments string, which some compatible servers send, as no arguments', async () => {
    fake.setRules([{ toolCalls: [{ name: 'get_time', arguments: {}, rawArguments: '' }] }]);
    const model = new OpenAiModel('fake-small', `${fake.url}/v1`, 'test-key');
    const r = await model.chat(conversation, AbortSignal.timeout(10_000), { tools: [clock] });
    expect(r.toolCalls).toEqual([{ id: expect.stringMatching(/^call_/), name: 'get_time', arguments: {} }]);
  });
});
