import type { Logger } from '@switchboard/core';
import type pg from 'pg';
import type { KnowledgeSettings } from './config.ts';
import { createEmbedder } from './embeddings.ts';
import { KnowledgeBase } from './knowledge-base.ts';

export type KnowledgeConfig = KnowledgeSettings & {
  OLLAMA_URL: string;
  OPENAI_BASE_URL: string;
  OPENAI_API_KEY?: string;
};

/** The knowledge base as the worker's settings describe it (embeddings only when KB_EMBEDDINGS_MODEL is set). */
export function knowledgeBaseFromConfig(pool: pg.Pool, cfg: KnowledgeConfig, log: Logger): KnowledgeBase {
  return new KnowledgeBase(pool, {
    log,
    chunkChars: cfg.KB_CHUNK_CHARS,
    overlapChars: cfg.KB_CHUNK_OVERLAP,
    csvRowsPerChunk: cfg.KB_CSV_ROWS_PER_CHUNK,
    maxDocumentBytes: cfg.KB_MAX_DOCUMENT_BYTES,
    trigramThreshold: cfg.KB_TRIGRAM_THRESHOLD,
    defaultLimit: cfg.KB_SEARCH_LIMIT,
    minScore: cfg.KB_MIN_SCORE,
    embedder: cfg.KB_EMBEDDINGS_MODEL
      ? createEmbedder(cfg.KB_EMBEDDINGS_MODEL, {
          ollamaUrl: cfg.OLLAMA_URL,
          openaiBaseUrl: cfg.OPENAI_BASE_URL,
          openaiApiKey: cfg.OPENAI_API_KEY,
          timeoutMs: cfg.KB_EMBEDDINGS_TIMEOUT_MS,
          batchSize: cfg.KB_EMBEDDINGS_BATCH,
        })
      : undefined,
  });
}
