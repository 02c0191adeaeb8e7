import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readJson, sendJson } from './http.ts';
import { sendOpenAiError } from './openai-api.ts';
import type { FakeState } from './state.ts';

/** Length of every fake embedding. */
export const FAKE_EMBEDDING_DIMENSIONS = 256;

export interface RecordedEmbedding {
  api: 'ollama' | 'openai';
  model: string;
  input: string[];
  at: number;
}

/**
 * A deterministic stand-in for an embedding model: a hashed bag of words (Latin words whole, Han
 * text as character pairs), normalised to unit length. Texts sharing words get a higher cosine
 * similarity, which is what a test of re-ranking needs; the same text always gets the same vector.
 */
export function fakeEmbedding(text: string): number[] {
  const v = new Array<number>(FAKE_EMBEDDING_DIMENSIONS).fill(0);
  for (const token of embeddingTokens(text)) {
    const h = createHash('sha256').update(token).digest();
    v[h.readUInt32BE(0) % FAKE_EMBEDDING_DIMENSIONS]! += h[4]! & 1 ? 1 : -1;
  }
  const norm = Math.hypot(...v);
  return norm === 0 ? v : v.map((x) => x / norm);
}

export function embeddingTokens(text: string): string[] {
  const tokens: string[] = [];
  for (const [word] of text.toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    if (!/\p{Script=Han}/u.test(word)) {
      tokens.push(word);
      continue;
    }
    const chars = [...word];
    if (chars.length === 1) tokens.push(word);
    for (let i = 0; i + 1 < chars.length; i++) tokens.push(chars[i]! + chars[i + 1]!);
  }
  return tokens;
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** `POST /api/embed` (`input`: string or list) and the older `POST /api/embeddings` (`prompt`). */
export async function ollamaEmbed(
  state: FakeState,
  req: IncomingMessage,
  res: ServerResponse,
  legacy: boolean,
): Promise<void> {
  const parsed = await readJson(req);
  if (!parsed.ok) return sendJson(res, 400, { error: parsed.error });
  const body = parsed.value as Record<string, unknown> | null;
  const model = typeof body?.model === 'string' ? body.model : '';
  if (model === '') return sendJson(res, 400, { error: 'model is required' });
  const raw = legacy ? body?.prompt : body?.input;
  const input = typeof raw === 'string' ? [raw] : raw;
  if (!isStringList(input)) {
    return sendJson(res, 400, { error: `invalid ${legacy ? 'prompt' : 'input'} type` });
  }
  state.recordEmbedding({ api: 'ollama', model, input, at: Date.now() });
  if (!state.hasModel(model)) {
    return sendJson(res, 404, { error: `model "${model}" not found, try pulling it first` });
  }
  if (legacy) return sendJson(res, 200, { embedding: fakeEmbedding(input[0] ?? '') });
  sendJson(res, 200, {
    model,
    embeddings: input.map(fakeEmbedding),
    total_duration: 1_000_000,
    load_duration: 100_000,
    prompt_eval_count: input.reduce((n, t) => n + Math.max(1, Math.ceil(t.length / 4)), 0),
  });
}

/** `POST /v1/embeddings`, floats or (the OpenAI SDK's default) base64 of little-endian float32. */
export async function openAiEmbed(
  state: FakeState,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const parsed = await readJson(req);
  if (!parsed.ok) {
    return sendOpenAiError(
      res,
      400,
      'We could not parse the JSON body of your request.',
      'invalid_request_error',
      null,
    );
  }
  const body = parsed.value as Record<string, unknown> | null;
  const model = typeof body?.model === 'string' ? body.model : '';
  if (model === '') {
    return sendOpenAiError(res, 400, 'you must provide a model parameter', 'invalid_request_error', null);
  }
  const input = typeof body?.input === 'string' ? [body.input] : body?.input;
  if (!isStringList(input) || input.length === 0) {
    return sendOpenAiError(
      res,
      400,
      "'input' : input must be a string or a non-empty array of strings",
      'invalid_request_error',
      null,
      'input',
    );
  }
  const format = body?.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    return sendOpenAiError(
      res,
      400,
      `Invalid value for 'encoding_format': ${String(format)}`,
      'invalid_request_error',
      null,
      'encoding_format',
    );
  }
  state.recordEmbedding({ api: 'openai', model, input, at: Date.now() });
  if (!state.hasModel(model)) {
    return sendOpenAiError(
      res,
      404,
      `The model \`${model}\` does not exist or you do not have access to it.`,
      'invalid_request_error',
      'model_not_found',
    );
  }
  const tokens = input.reduce((n, t) => n + Math.max(1, Math.ceil(t.length / 4)), 0);
  sendJson(res, 200, {
    object: 'list',
    data: input.map((text, index) => {
      const v = fakeEmbedding(text);
      const embedding = format === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v;
      return { object: 'embedding', index, embedding };
    }),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}
