import { describe, expect, it } from 'vitest';
import { trimToBudget } from './conversation-store.ts';
import type { ChatMessage } from './models/provider.ts';

function msgs(...lengths: number[]): ChatMessage[] {
  return lengths.map((n, i) => ({
    role: i % 2 === 0 ? 'user' : 'assistant',
    content: String(i % 10).repeat(n),
  }));
}

const total = (m: ChatMessage[]) => m.reduce((n, x) => n + x.content.length, 0);

describe('trimToBudget', () => {
  it('keeps the whole history when it fits', () => {
    const history = msgs(10, 20, 30);
    expect(trimToBudget(history, 60)).toEqual(history);
    expect(trimToBudget(history, 1_000)).toEqual(history);
  });

  it('drops the oldest messages first and keeps the newest, oldest first', () => {
    const history = msgs(10, 20, 30, 40);
    const kept = trimToBudget(history, 75);
    expect(kept).toEqual(history.slice(2));
    expect(total(kept)).toBeLessThanOrEqual(75);
  });

  it('never goes over the budget while more than one message is kept', () => {
    const history = msgs(7, 3, 12, 9, 1, 30, 4, 4, 18, 2);
    for (let budget = 1; budget <= total(history) + 5; budget++) {
      const kept = trimToBudget(history, budget);
      if (kept.length > 1) expect(total(kept), `budget ${budget}`).toBeLessThanOrEqual(budget);
      // A contiguous run ending at the newest message, so the model sees a coherent conversation.
      expect(kept).toEqual(history.slice(history.length - kept.length));
    }
  });

  it('keeps as much as fits: one more older message would break the budget', () => {
    const history = msgs(25, 25, 25, 25);
    const kept = trimToBudget(history, 60);
    expect(kept).toHaveLength(2);
    expect(total(history.slice(-3))).toBeGreaterThan(60);
  });

  it('always keeps the newest message, even when it alone is over the budget', () => {
    const history = msgs(10, 10, 500);
    expect(trimToBudget(history, 100)).toEqual([history[2]]);
    expect(trimToBudget(msgs(500), 100)).toHaveLength(1);
  });

  it('does not skip over a large message to include a smaller older one', () => {
    const history = msgs(1, 100, 1);
    expect(trimToBudget(history, 10)).toEqual([history[2]]);
  });

  it('returns nothing for no history', () => {
    expect(trimToBudget([], 100)).toEqual([]);
  });

  it('does not change the list it was given', () => {
    const history = msgs(10, 20, 30);
    const copy = structuredClone(history);
    trimToBudget(history, 25);
    expect(history).toEqual(copy);
  });
});
