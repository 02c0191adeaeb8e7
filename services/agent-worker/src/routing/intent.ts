import type { ChatMessage } from '../models/provider.ts';
import type { IntentClassifier } from './router.ts';

/** The longest text the classifier reads: the intent shows in the opening, and small models are slow. */
const MAX_TEXT_CHARS = 2_000;

/** A short prompt asking a model to pick one label, or `none`. */
export function intentPrompt(text: string, labels: string[]): ChatMessage[] {
  return [
    {
      role: 'system',
      content:
        'You classify the intent of a chat message. Answer with exactly one label from the list, ' +
        'or "none" if no label fits. Answer with the label only, no other words.\n' +
        `Labels: ${labels.join(', ')}`,
    },
    { role: 'user', content: text.slice(0, MAX_TEXT_CHARS) },
  ];
}

/** The label a model answered, tolerating quotes, case, punctuation and a short preamble; else undefined. */
export function parseIntent(answer: string, labels: string[]): string | undefined {
  const words: string[] = answer.toLowerCase().match(/[a-z0-9_-]+/g) ?? [];
  if (words.includes('none') && words.length <= 2) return undefined;
  // A model that says "Label: billing" or "The intent is billing." still names one label; two is a guess.
  const named = labels.filter((l) => words.includes(l));
  return named.length === 1 ? named[0] : undefined;
}

/**
 * An IntentClassifier over any chat call (e.g. the default profile's model chain):
 * `modelIntentClassifier((m, signal) => chain.complete(m, traceId).then((r) => r.content))`.
 */
export function modelIntentClassifier(
  chat: (messages: ChatMessage[], signal?: AbortSignal) => Promise<string>,
): IntentClassifier {
  return async (text, labels, signal) => parseIntent(await chat(intentPrompt(text, labels), signal), labels);
}
