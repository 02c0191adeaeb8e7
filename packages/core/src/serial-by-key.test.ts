import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/infra.ts';
import { SerialByKey } from './serial-by-key.ts';

/** A promise the test settles by hand, so the order of events never depends on timing. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every already-queued promise callback and I/O callback run. */
function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

describe('SerialByKey', () => {
  it('runs the turns of one conversation one after another, in the order they arrived', async () => {
    const s = new SerialByKey();
    const events: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const runs = gates.map((g, i) =>
      s.run('telegram:bot:chat-1', async () => {
        events.push(`start ${i}`);
        await g.promise;
        events.push(`end ${i}`);
      }),
    );
    await settle();
    expect(events).toEqual(['start 0']);
    // Finishing out of order changes nothing: turn 2 waits for turn 1, which waits for turn 0.
    gates[2]!.resolve();
    gates[1]!.resolve();
    await settle();
    expect(events).toEqual(['start 0']);
    gates[0]!.resolve();
    await Promise.all(runs);
    expect(events).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('runs different conversations at the same time', async () => {
    const s = new SerialByKey();
    const slow = deferred();
    let slowDone = false;
    const a = s.run('web:bot:a', async () => {
      await slow.promise;
      slowDone = true;
    });
    // b completes while a is still blocked.
    await s.run('web:bot:b', async () => {});
    expect(slowDone).toBe(false);
    // b's key is released once its turn is done; a's is still held.
    await waitFor('only the blocked conversation to be active', () => s.activeKeys === 1, 2_000);
    expect(slowDone).toBe(false);
    slow.resolve();
    await a;
    expect(slowDone).toBe(true);
  });

  it('hands a failure to its own caller and still runs the next turn of that conversation', async () => {
    const s = new SerialByKey();
    const ran: string[] = [];
    const failing = s.run('k', async () => {
      ran.push('first');
      throw new Error('model exploded');
    });
    const next = s.run('k', async () => {
      ran.push('second');
    });
    await expect(failing).rejects.toThrow('model exploded');
    await expect(next).resolves.toBeUndefined();
    expect(ran).toEqual(['first', 'second']);
  });

  it('never overlaps two turns of one key under a burst of mixed keys', async () => {
    const s = new SerialByKey();
    const running = new Map<string, number>();
    const order = new Map<string, number[]>();
    let overlaps = 0;
    const runs: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      const key = `conv-${i % 7}`;
      runs.push(
        s.run(key, async () => {
          running.set(key, (running.get(key) ?? 0) + 1);
          if (running.get(key)! > 1) overlaps++;
          // Uneven amounts of asynchronous work per task.
          for (let j = 0; j < (i * 13) % 5; j++) await settle();
          order.set(key, [...(order.get(key) ?? []), i]);
          running.set(key, running.get(key)! - 1);
        }),
      );
    }
    await Promise.all(runs);
    expect(overlaps).toBe(0);
    for (const [key, seq] of order) {
      expect(seq, key).toEqual([...seq].sort((x, y) => x - y));
      expect(seq.length).toBeGreaterThan(0);
    }
  });

  it('forgets a conversation once its turns are done, so memory stays flat', async () => {
    const s = new SerialByKey();
    const runs = Array.from({ length: 50 }, (_, i) => s.run(`conv-${i}`, async () => {}));
    runs.push(s.run('conv-0', async () => Promise.reject(new Error('failed'))).catch(() => {}));
    await Promise.all(runs);
    await waitFor('every key to be released', () => s.activeKeys === 0, 2_000);
  });
});
