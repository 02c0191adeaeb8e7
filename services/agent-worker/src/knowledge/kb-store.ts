import type pg from 'pg';
import { searchText } from './search-text.ts';
import type { Chunk, DocumentType, KbDocument } from './types.ts';

/** Words too common to say what a question is about; left out of the any-word full-text query. */
const STOP_WORDS = [
  'a',
  'an',
  'the',
  'is',
  'are',
  'was',
  'were',
  'be',
  'been',
  'do',
  'does',
  'did',
  'i',
  'we',
  'you',
  'it',
  'to',
  'of',
  'in',
  'on',
  'for',
  'and',
  'or',
  'how',
  'what',
  'where',
  'when',
  'who',
  'why',
  'which',
  'can',
  'could',
  'should',
  'would',
  'my',
  'our',
  'me',
  'us',
  'this',
  'that',
  'with',
  'at',
  'by',
  'from',
  'about',
  'please',
  'there',
  'if',
  'so',
  'as',
  'into',
  'get',
  'need',
  'want',
  // Character pairs of Chinese question words (see searchText).
  '什么',
  '是什',
  '怎么',
  '怎样',
  '如何',
  '为什',
  '哪里',
  '请问',
  '是否',
  '可以',
  '一下',
];

/** The text a chunk is searched by; the same expression as the trigram index in 005_knowledge.sql. */
const SEARCH_TEXT = `(c.heading || ' ' || c.content)`;

export interface StoredDocument extends KbDocument {
  chunking: string;
}

export interface Candidate {
  chunkId: string;
  documentId: string;
  source: string;
  title: string;
  heading: string;
  content: string;
  embedding: number[] | null;
  /** Full-text rank over any of the query's words, 0..1. */
  fts: number;
  /** Whether the chunk holds every word of the query (websearch syntax: quotes, -not, or). */
  allTerms: boolean;
  /** Trigram word similarity of the query to the chunk's text, 0..1. */
  trgm: number;
}

export interface DocumentRow {
  origin: 'folder' | 'api';
  source: string;
  type: DocumentType;
  title: string;
  sha256: string;
  chunking: string;
  embeddingModel: string | null;
  bytes: number;
}

const DOC_COLUMNS = `id, origin, source, type, title, sha256, chunking, embedding_model, bytes, chunk_count, ingested_at`;

function toDocument(r: Record<string, unknown>): StoredDocument {
  return {
    id: String(r.id),
    origin: r.origin as StoredDocument['origin'],
    source: r.source as string,
    type: r.type as DocumentType,
    title: r.title as string,
    sha256: r.sha256 as string,
    chunking: r.chunking as string,
    bytes: r.bytes as number,
    chunkCount: r.chunk_count as number,
    embeddingModel: (r.embedding_model as string | null) ?? null,
    ingestedAt: r.ingested_at as Date,
  };
}

/** Every query the knowledge base runs; the rest of it is plain logic. */
export const kbStore = {
  async find(db: pg.Pool | pg.PoolClient, origin: string, source: string, lock = false) {
    const r = await db.query(
      `SELECT ${DOC_COLUMNS} FROM kb_documents WHERE origin = $1 AND source = $2${lock ? ' FOR UPDATE' : ''}`,
      [origin, source],
    );
    return r.rows[0] ? toDocument(r.rows[0]) : undefined;
  },

  /** Serialises writers of one document across workers, until the transaction ends. */
  async lockDocument(c: pg.PoolClient, origin: string, source: string): Promise<void> {
    await c.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`kb:${origin}:${source}`]);
  },

  /** Writes the document and replaces all its chunks; run inside a transaction. */
  async replace(
    c: pg.PoolClient,
    doc: DocumentRow,
    chunks: readonly Chunk[],
    embeddings: readonly number[][] | undefined,
  ): Promise<StoredDocument> {
    const r = await c.query(
      `INSERT INTO kb_documents (origin, source, type, title, sha256, chunking, embedding_model, bytes, chunk_count)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (origin, source) DO UPDATE SET
         type = EXCLUDED.type, title = EXCLUDED.title, sha256 = EXCLUDED.sha256,
         chunking = EXCLUDED.chunking, embedding_model = EXCLUDED.embedding_model,
         bytes = EXCLUDED.bytes, chunk_count = EXCLUDED.chunk_count, ingested_at = now()
       RETURNING ${DOC_COLUMNS}`,
      [
        doc.origin,
        doc.source,
        doc.type,
        doc.title,
        doc.sha256,
        doc.chunking,
        doc.embeddingModel,
        doc.bytes,
        chunks.length,
      ],
    );
    const stored = toDocument(r.rows[0]);
    await c.query('DELETE FROM kb_chunks WHERE document_id = $1', [stored.id]);
    const BATCH = 200;
    for (let i = 0; i < chunks.length; i += BATCH) {
      const values: string[] = [];
      const params: unknown[] = [stored.id];
      chunks.slice(i, i + BATCH).forEach((chunk, j) => {
        const n = params.length;
        values.push(`($1, $${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}::real[])`);
        params.push(
          i + j,
          chunk.heading,
          chunk.content,
          searchText(`${chunk.heading}\n${chunk.content}`),
          embeddings?.[i + j] ?? null,
        );
      });
      await c.query(
        `INSERT INTO kb_chunks (document_id, ordinal, heading, content, search_text, embedding)
         VALUES ${values.join(', ')}`,
        params,
      );
    }
    return stored;
  },

  async list(db: pg.Pool): Promise<StoredDocument[]> {
    const r = await db.query(`SELECT ${DOC_COLUMNS} FROM kb_documents ORDER BY origin, source`);
    return r.rows.map(toDocument);
  },

  async get(db: pg.Pool, id: string): Promise<StoredDocument | undefined> {
    const r = await db.query(`SELECT ${DOC_COLUMNS} FROM kb_documents WHERE id = $1`, [id]);
    return r.rows[0] ? toDocument(r.rows[0]) : undefined;
  },

  async remove(db: pg.Pool, id: string): Promise<boolean> {
    const r = await db.query('DELETE FROM kb_documents WHERE id = $1', [id]);
    return (r.rowCount ?? 0) > 0;
  },

  /** Removes the folder documents whose file is gone; returns their sources. */
  async removeFolderDocumentsExcept(db: pg.Pool, present: readonly string[]): Promise<string[]> {
    const r = await db.query<{ source: string }>(
      `DELETE FROM kb_documents WHERE origin = 'folder' AND NOT (source = ANY($1::text[])) RETURNING source`,
      [present],
    );
    return r.rows.map((row) => row.source).sort();
  },

  /**
   * The best chunks by words and by trigrams. Full text uses an any-word query (stop words left
   * out) so a question need not repeat a passage word for word; a chunk with every word gets a
   * bonus. Trigrams catch what the 'simple' parser cannot split (Chinese) and misspellings.
   */
  async candidates(
    c: pg.PoolClient,
    query: { words: string; trigrams: string },
    opts: { limit: number; trigramThreshold: number },
  ): Promise<Candidate[]> {
    // `<%` reads its threshold from this setting; `true` scopes it to the current transaction.
    await c.query(`SELECT set_config('pg_trgm.word_similarity_threshold', $1, true)`, [
      String(opts.trigramThreshold),
    ]);
    // $1: the query for words (CJK as character pairs), $4: the query for trigrams.
    const r = await c.query(
      `WITH words AS (
         SELECT l FROM unnest(tsvector_to_array(to_tsvector('simple', $1))) AS l
       ), q AS (
         SELECT websearch_to_tsquery('simple', $1) AS strict,
                (SELECT to_tsquery('simple', string_agg(
                          '''' || replace(replace(l, '\\', '\\\\'), '''', '''''') || '''', ' | '))
                   FROM words
                  WHERE l <> ALL($3::text[])
                     OR NOT EXISTS (SELECT 1 FROM words w WHERE w.l <> ALL($3::text[]))) AS loose
       )
       SELECT c.id, c.document_id, d.source, d.title, c.heading, c.content, c.embedding,
              coalesce(ts_rank_cd(c.tsv, q.loose, 32), 0) AS fts,
              coalesce(c.tsv @@ q.strict, false) AS all_terms,
              word_similarity($4, ${SEARCH_TEXT}) AS trgm
         FROM q, kb_chunks c JOIN kb_documents d ON d.id = c.document_id
        WHERE c.tsv @@ q.loose OR $4 <% ${SEARCH_TEXT}
        ORDER BY (coalesce(ts_rank_cd(c.tsv, q.loose, 32), 0) + word_similarity($4, ${SEARCH_TEXT})) DESC, c.id
        LIMIT $2`,
      [query.words, opts.limit, STOP_WORDS, query.trigrams],
    );
    return r.rows.map((row) => ({
      chunkId: String(row.id),
      documentId: String(row.document_id),
      source: row.source,
      title: row.title,
      heading: row.heading,
      content: row.content,
      embedding: row.embedding,
      fts: Number(row.fts),
      allTerms: row.all_terms === true,
      trgm: Number(row.trgm),
    }));
  },
};
