import { z } from 'zod';

export const documentTypes = ['markdown', 'csv', 'text'] as const;
export const documentTypeSchema = z.enum(documentTypes);
export type DocumentType = z.infer<typeof documentTypeSchema>;

/** A piece of a document as the chunkers cut it. */
export interface Chunk {
  /** Where it sits in the document: heading path, or a row range for CSV. */
  heading: string;
  content: string;
}

export interface ChunkingSettings {
  /** Target size of a chunk in characters. */
  chunkChars: number;
  /** Characters repeated from the end of one piece at the start of the next when a section is split. */
  overlapChars: number;
  /** Rows per CSV chunk; each chunk repeats the header. */
  csvRowsPerChunk: number;
}

/** A passage `search` found: what the model reads and what the citation names. */
export interface Passage {
  chunkId: string;
  documentId: string;
  source: string;
  title: string;
  heading: string;
  content: string;
  /** Higher is better; comparable within one search only. */
  score: number;
}

export interface KbDocument {
  id: string;
  origin: 'folder' | 'api';
  source: string;
  type: DocumentType;
  title: string;
  sha256: string;
  bytes: number;
  chunkCount: number;
  embeddingModel: string | null;
  ingestedAt: Date;
}

export interface IngestResult {
  document: KbDocument;
  /** `unchanged`: same content and settings, nothing was written. */
  status: 'created' | 'updated' | 'unchanged';
}

export interface SyncReport {
  created: string[];
  updated: string[];
  unchanged: string[];
  removed: string[];
  /** Files that could not be ingested; the others were. */
  failed: Array<{ source: string; code: string; reason: string }>;
}
