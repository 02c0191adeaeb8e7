import { chunkCsv } from './chunk-csv.ts';
import { chunkMarkdown } from './chunk-markdown.ts';
import { chunkPlainText } from './chunk-text.ts';
import type { Chunk, ChunkingSettings, DocumentType } from './types.ts';

/** Bumped whenever the chunkers change what they produce, so stored documents are cut again. */
const CHUNKER_VERSION = 1;

/** The type a file name implies; undefined for files the knowledge base does not read. */
export function typeFromName(name: string): DocumentType | undefined {
  const lower = name.toLowerCase();
  if (/\.(md|markdown|mdx)$/.test(lower)) return 'markdown';
  if (/\.(csv|tsv)$/.test(lower)) return 'csv';
  if (/\.(txt|text)$/.test(lower)) return 'text';
  return undefined;
}

/** Identifies the settings chunks were cut with; stored per document. */
export function chunkingKey(s: ChunkingSettings): string {
  return `v${CHUNKER_VERSION}:${s.chunkChars}:${s.overlapChars}:${s.csvRowsPerChunk}`;
}

/** Cuts a document into chunks; the title is the first `# heading` of Markdown, if any. */
export function chunkDocument(
  type: DocumentType,
  content: string,
  s: ChunkingSettings,
): { title?: string; chunks: Chunk[] } {
  switch (type) {
    case 'markdown':
      return chunkMarkdown(content, s);
    case 'csv':
      return { chunks: chunkCsv(content, s) };
    case 'text':
      return { chunks: chunkPlainText(content, s) };
  }
}
