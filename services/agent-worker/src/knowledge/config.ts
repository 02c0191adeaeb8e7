import { parseModelChain } from '@switchboard/models';
import { z } from 'zod';
import { envFlag } from '../skills/config.ts';

/** Knowledge-base settings; merged into the worker's config. */
export const knowledgeConfigShape = {
  /** Folder of Markdown, CSV and text files, synced into the knowledge base at start and on change. */
  KNOWLEDGE_DIR: z.string().min(1).default('./workspace/knowledge'),
  /** Re-sync KNOWLEDGE_DIR when files in it change. */
  KNOWLEDGE_WATCH: envFlag(true),
  /** Target chunk size in characters. */
  KB_CHUNK_CHARS: z.coerce.number().int().min(200).max(20_000).default(1_200),
  /** Characters repeated between the pieces of a section split by size (at most a quarter of a chunk). */
  KB_CHUNK_OVERLAP: z.coerce.number().int().min(0).max(5_000).default(150),
  /** CSV rows per chunk; each chunk names its columns. */
  KB_CSV_ROWS_PER_CHUNK: z.coerce.number().int().min(1).max(200).default(1),
  /** Larger documents are refused (folder files and admin uploads). */
  KB_MAX_DOCUMENT_BYTES: z.coerce
    .number()
    .int()
    .min(1_024)
    .max(50 * 1024 * 1024)
    .default(2 * 1024 * 1024),
  /** Passages put into the prompt. */
  KB_SEARCH_LIMIT: z.coerce.number().int().min(1).max(20).default(4),
  /** Size budget of the knowledge block in the system prompt, in characters. */
  KB_CONTEXT_MAX_CHARS: z.coerce.number().int().min(1_000).max(100_000).default(6_000),
  /** Minimum trigram word similarity (0..1) for a passage found by trigrams alone. */
  KB_TRIGRAM_THRESHOLD: z.coerce.number().min(0.05).max(1).default(0.3),
  /** Passages scoring below this (0..1, by words and trigrams) are left out as noise. */
  KB_MIN_SCORE: z.coerce.number().min(0).max(1).default(0.15),
  /**
   * Embedding model, `ollama/nomic-embed-text` or `openai/text-embedding-3-small` (uses OLLAMA_URL /
   * OPENAI_BASE_URL / OPENAI_API_KEY). Unset: no embeddings, ranking by words and trigrams.
   */
  KB_EMBEDDINGS_MODEL: z
    .string()
    .optional()
    .superRefine((spec, ctx) => {
      if (spec === undefined) return;
      try {
        if (parseModelChain(spec).length !== 1)
          ctx.addIssue({ code: 'custom', message: 'one model, not a chain' });
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    }),
  KB_EMBEDDINGS_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  KB_EMBEDDINGS_BATCH: z.coerce.number().int().min(1).max(256).default(32),
};

export const knowledgeConfigSchema = z.object(knowledgeConfigShape);
export type KnowledgeSettings = z.infer<typeof knowledgeConfigSchema>;
