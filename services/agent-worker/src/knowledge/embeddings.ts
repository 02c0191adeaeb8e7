import { ErrorCodes, SwitchboardError } from '@switchboard/core';
import { parseModelChain } from '@switchboard/models';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { bufferedFetch } from '../models/http-fetch.ts';

/** Turns texts into vectors through a model provider's embedding API. */
export interface Embedder {
  /** `provider/model`, stored with each document's embeddings. */
  readonly label: string;
  embed(texts: string[]): Promise<number[][]>;
}

export interface EmbedderOptions {
  ollamaUrl: string;
  openaiBaseUrl: string;
  openaiApiKey?: string;
  /** Per request; a `@ms` suffix on the spec wins. */
  timeoutMs: number;
  /** Texts per request. */
  batchSize: number;
}

/** `ollama/nomic-embed-text` or `openai/text-embedding-3-small` (MODEL_CHAIN syntax, one model). */
export function createEmbedder(spec: string, o: EmbedderOptions): Embedder {
  const models = parseModelChain(spec);
  if (models.length !== 1) throw new Error(`"${spec}": one embedding model, not a chain`);
  const m = models[0]!;
  const timeoutMs = m.timeoutMs ?? o.timeoutMs;
  const label = `${m.provider}/${m.model}`;
  const call =
    m.provider === 'ollama'
      ? ollamaCall(m.model, o.ollamaUrl)
      : openAiCall(m.model, o.openaiBaseUrl, o.openaiApiKey ?? 'unused');
  return {
    label,
    async embed(texts) {
      const out: number[][] = [];
      for (let i = 0; i < texts.length; i += o.batchSize) {
        const batch = texts.slice(i, i + o.batchSize);
        let vectors: number[][];
        try {
          vectors = await call(batch, AbortSignal.timeout(timeoutMs));
        } catch (err) {
          throw new SwitchboardError(
            ErrorCodes.MODEL_FAILED,
            `embeddings from ${label} failed: ${(err as Error)?.message ?? String(err)}`,
            { retryable: true, cause: err },
          );
        }
        checkVectors(label, batch.length, vectors, out[0]?.length);
        out.push(...vectors);
      }
      return out;
    },
  };
}

type EmbedCall = (input: string[], signal: AbortSignal) => Promise<number[][]>;

function ollamaCall(model: string, host: string): EmbedCall {
  return async (input, signal) => {
    // A per-call fetch carries the per-call signal (the client's own abort() cancels everything).
    const client = new Ollama({ host, fetch: (url, init) => bufferedFetch(url, { ...init, signal }) });
    const res = await client.embed({ model, input });
    return res.embeddings;
  };
}

function openAiCall(model: string, baseURL: string, apiKey: string): EmbedCall {
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, fetch: bufferedFetch });
  return async (input, signal) => {
    // float: the SDK's default (base64) saves bytes on the wire but not for the handful we send.
    const res = await client.embeddings.create({ model, input, encoding_format: 'float' }, { signal });
    return [...res.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
  };
}

function checkVectors(label: string, expected: number, vectors: unknown, dims: number | undefined): void {
  const bad = (why: string) =>
    new SwitchboardError(ErrorCodes.MODEL_FAILED, `embeddings from ${label}: ${why}`, { retryable: false });
  if (!Array.isArray(vectors) || vectors.length !== expected) {
    throw bad(
      `expected ${expected} vectors, got ${Array.isArray(vectors) ? vectors.length : typeof vectors}`,
    );
  }
  const want = dims ?? (vectors[0] as unknown[] | undefined)?.length;
  for (const v of vectors) {
    if (!Array.isArray(v) || v.length === 0 || v.length !== want)
      throw bad('vectors of differing or zero length');
    if (!v.every((x) => typeof x === 'number' && Number.isFinite(x)))
      throw bad('a vector holds a non-number');
  }
}

/** Cosine similarity; 0 when either vector is all zeros or their lengths differ. */
export function cosine(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length === 0) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
