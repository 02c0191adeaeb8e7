import { describe, expect, it } from 'vitest';
import { intentPrompt, modelIntentClassifier, parseIntent } from './intent.ts';

const labels = ['billing', 'outage', 'how-to'];

describe('intent classification prompt', () => {
  it('asks for one label from the list', () => {
    const [system, user] = intentPrompt('the site is down', labels);
    expect(system?.content).toMatch(/Labels: billing, outage, how-to/);
    expect(user).toEqual({ role: 'user', content: 'the site is down' });
    expect(intentPrompt('x'.repeat(5_000), labels)[1]?.content).toHaveLength(2_000);
  });

  it('reads the label out of what small models actually answer', () => {
    expect(parseIntent('outage', labels)).toBe('outage');
    expect(parseIntent('"Billing".', labels)).toBe('billing');
    expect(parseIntent('Label: how-to', labels)).toBe('how-to');
    expect(parseIntent('The intent is outage.', labels)).toBe('outage');
    expect(parseIntent('none', labels)).toBeUndefined();
    expect(parseIntent('None.', labels)).toBeUndefined();
    expect(parseIntent('billing or outage', labels)).toBeUndefined();
    expect(parseIntent('poetry', labels)).toBeUndefined();
    expect(parseIntent('', labels)).toBeUndefined();
  });

  it('wraps a chat call into a classifier', async () => {
    const seen: string[] = [];
    const classify = modelIntentClassifier(async (messages) => {
      seen.push(messages.at(-1)!.content);
      return 'Outage';
    });
    expect(await classify('site down', labels)).toBe('outage');
    expect(seen).toEqual(['site down']);
  });
});
