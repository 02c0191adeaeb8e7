import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { waitFor } from '../support/infra.ts';
import { TestStack } from '../support/stack.ts';
import { postMessage } from '../support/web-client.ts';

/**
 * A provider quota shared by every worker: with a concurrency limit of one call for the model,
 * two agent-workers (each holding some of the conversations) never call the model at the same time.
 */
describe('model limits shared across workers', () => {
  const LATENCY_MS = 300;
  let llm: FakeLlm;
  let stack: TestStack;

  beforeAll(async () => {
    llm = await startFakeLlm({ latencyMs: LATENCY_MS });
    stack = await new TestStack({
      workers: 2,
      workerEnv: {
        OLLAMA_URL: llm.url,
        REDIS_URL: 'redis://127.0.0.1:6379',
        MODEL_LIMITS: 'ollama/fake-small:concurrency=1',
        TOOLS_ENABLED: 'false',
      },
    }).start();
  });
  afterAll(async () => {
    await stack?.stop();
    await llm?.close();
  });

  it('never runs two calls of a limited model at once, whichever worker makes them', async () => {
    // Both workers must hold partitions, or one worker alone would prove nothing.
    const held = async (url: string) => {
      const text = await (await fetch(`${url}/metrics`)).text();
      return Number(/^switchboard_partitions_held(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
    };
    await waitFor('both workers to hold partitions', async () => {
      const counts = await Promise.all(stack.workers.map((w) => held(w.url)));
      return counts.every((n) => n > 0);
    });
    const tag = randomBytes(3).toString('hex');
    const texts = Array.from({ length: 12 }, (_, i) => `limited ${tag} ${i}`);
    // Different conversations land on different partitions, so both workers take some.
    await Promise.all(
      texts.map((text, i) =>
        postMessage(stack.web.url, stack.token, { conversationId: `lim-${tag}-${i}`, text }),
      ),
    );
    const calls = await waitFor(
      'every message to reach the model',
      () => {
        const seen = llm.calls.filter((c) => texts.some((t) => c.messages.some((m) => m.content === t)));
        return seen.length === texts.length ? seen : undefined;
      },
      60_000,
    );
    const starts = calls.map((c) => c.at).sort((a, b) => a - b);
    // Each call holds the model for LATENCY_MS; with one slot, the next cannot start before it ends.
    for (let i = 1; i < starts.length; i++) {
      expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(LATENCY_MS - 20);
    }
    // And both workers answered some of them (their turn logs name the conversation).
    const answering = stack.workers.filter((w) =>
      w.logs.some((l) => l.includes('turn committed') && l.includes(`lim-${tag}`)),
    );
    expect(answering).toHaveLength(2);
  });
});
