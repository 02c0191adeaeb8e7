import { createHash } from 'node:crypto';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, extname, isAbsolute, join, relative, sep } from 'node:path';
import { ErrorCodes, errorMessage, type Logger, SwitchboardError, withTransaction } from '@switchboard/core';
import type pg from 'pg';
import { type FolderWatch, watchFolder } from '../skills/folder-watch.ts';
import { chunkDocument, chunkingKey, typeFromName } from './chunking.ts';
import { cosine, type Embedder } from './embeddings.ts';
import { type Candidate, kbStore, type StoredDocument } from './kb-store.ts';
import { searchText, trigramQuery } from './search-text.ts';
import type {
  ChunkingSettings,
  DocumentType,
  IngestResult,
  KbDocument,
  Passage,
  SyncReport,
} from './types.ts';

export interface KnowledgeBaseOptions extends ChunkingSettings {
  log: Logger;
  /** Larger documents are refused. */
  maxDocumentBytes: number;
  /** Minimum trigram word similarity (0..1) for a chunk to be a candidate by trigrams alone. */
  trigramThreshold: number;
  /** Passages returned when the caller does not say. */
  defaultLimit: number;
  /** Candidates whose word-and-trigram score (0..1) is below this are dropped as noise. */
  minScore: number;
  /** When set, chunks get embeddings at ingest and search re-ranks candidates by cosine similarity. */
  embedder?: Embedder;
}

/** Weights of the lexical score: any-word full text, every-word bonus, trigram similarity. */
const W_FTS = 0.45;
const W_ALL_TERMS = 0.15;
const W_TRGM = 0.4;
/** With embeddings, the final score leans on meaning and keeps some of the lexical evidence. */
const W_COSINE = 0.7;
const MAX_QUERY_CHARS = 1_000;

/**
 * Documents cut into chunks and stored in PostgreSQL, searched by full text plus trigrams (so
 * Chinese works), optionally re-ranked by embeddings. Writers of one document are serialised with
 * an advisory lock, so several workers syncing the same folder at start is safe.
 */
export class KnowledgeBase {
  constructor(
    private readonly pool: pg.Pool,
    private readonly o: KnowledgeBaseOptions,
  ) {}

  /** The same knowledge base working through `pool`: one open transaction, for an audited change. */
  on(pool: pg.Pool): KnowledgeBase {
    return new KnowledgeBase(pool, this.o);
  }

  /** A document sent through the admin API; `type` defaults to what the name's extension says. */
  ingestDocument(name: string, content: string, type?: DocumentType): Promise<IngestResult> {
    const t = type ?? typeFromName(name);
    if (!t) {
      throw new SwitchboardError(
        ErrorCodes.BAD_REQUEST,
        `type: give markdown, csv or text, or a name ending in .md, .csv or .txt (got "${name}")`,
        { statusCode: 400 },
      );
    }
    return this.ingest('api', name, t, content);
  }

  /**
   * Brings the folder's documents in line with `dir`: new and changed files are ingested, files
   * that are gone are removed, unchanged files cost one query each. A file that fails is reported
   * and keeps its earlier version; the others go on.
   */
  async ingestDirectory(dir: string): Promise<SyncReport> {
    const files = await this.listFiles(dir);
    const report: SyncReport = { created: [], updated: [], unchanged: [], removed: [], failed: [] };
    for (const { source, path, type } of files) {
      try {
        const content = await readFile(path, 'utf8');
        const r = await this.ingest('folder', source, type, content);
        report[r.status].push(source);
      } catch (err) {
        const code = err instanceof SwitchboardError ? err.code : 'SB_ERR_KB_READ_FAILED';
        report.failed.push({ source, code, reason: errorMessage(err) });
        this.o.log.error(`knowledge: ${source} not ingested: ${errorMessage(err)}`, {
          error: { code, message: errorMessage(err) },
          file: { path: source },
        });
      }
    }
    report.removed = await kbStore.removeFolderDocumentsExcept(
      this.pool,
      files.map((f) => f.source),
    );
    const changed = report.created.length + report.updated.length + report.removed.length;
    if (changed > 0 || report.failed.length > 0) {
      this.o.log.info('knowledge: folder synced', {
        labels: { knowledge_dir: dir },
        kb: {
          created: report.created.length,
          updated: report.updated.length,
          unchanged: report.unchanged.length,
          removed: report.removed.length,
          failed: report.failed.length,
        },
      });
    }
    return report;
  }

  /** Re-syncs `dir` (and its sub-folders) a moment after it changes. */
  watchDirectory(dir: string, debounceMs: number): FolderWatch {
    return watchFolder(
      dir,
      () => {
        this.ingestDirectory(dir).catch((err) =>
          this.o.log.error('knowledge: folder sync failed', { error: { message: errorMessage(err) } }),
        );
      },
      { debounceMs, log: this.o.log, what: 'knowledge', recursive: true },
    );
  }

  async listDocuments(): Promise<KbDocument[]> {
    return (await kbStore.list(this.pool)).map(publicDocument);
  }

  async getDocument(id: string): Promise<KbDocument | undefined> {
    const d = await kbStore.get(this.pool, id);
    return d && publicDocument(d);
  }

  /** Removes a document and its chunks. A folder document comes back at the next sync while its file exists. */
  removeDocument(id: string): Promise<boolean> {
    return kbStore.remove(this.pool, id);
  }

  /** The best passages for a question, best first. */
  async search(query: string, opts: { limit?: number } = {}): Promise<Passage[]> {
    const q = query.trim().slice(0, MAX_QUERY_CHARS);
    if (q === '') return [];
    const limit = Math.max(1, Math.min(opts.limit ?? this.o.defaultLimit, 50));
    const candidates = await withTransaction(this.pool, (c) =>
      kbStore.candidates(
        c,
        { words: searchText(q), trigrams: trigramQuery(q) },
        {
          limit: this.o.embedder ? Math.max(limit * 4, 20) : limit,
          trigramThreshold: this.o.trigramThreshold,
        },
      ),
    );
    const scored = candidates
      .map((c) => ({ c, lexical: W_FTS * c.fts + W_ALL_TERMS * (c.allTerms ? 1 : 0) + W_TRGM * c.trgm }))
      .filter((x) => x.lexical >= this.o.minScore);
    if (scored.length === 0) return [];
    const queryVector = await this.queryEmbedding(q);
    const best = Math.max(...scored.map((x) => x.lexical));
    return scored
      .map(({ c, lexical }) => {
        if (!queryVector) return toPassage(c, lexical);
        const sim = c.embedding ? Math.max(0, cosine(queryVector, c.embedding)) : 0;
        return toPassage(c, (1 - W_COSINE) * (lexical / best) + W_COSINE * sim);
      })
      .sort((a, b) => b.score - a.score || Number(a.chunkId) - Number(b.chunkId))
      .slice(0, limit);
  }

  private async queryEmbedding(q: string): Promise<number[] | undefined> {
    if (!this.o.embedder) return undefined;
    try {
      return (await this.o.embedder.embed([q]))[0];
    } catch (err) {
      // Lexical ranking still answers; a down embedding model must not take retrieval with it.
      this.o.log.warn('knowledge: query embedding failed; ranking by words and trigrams only', {
        error: { message: errorMessage(err) },
      });
      return undefined;
    }
  }

  private async ingest(
    origin: 'folder' | 'api',
    source: string,
    type: DocumentType,
    raw: string,
  ): Promise<IngestResult> {
    const content = raw.replace(/^\uFEFF/, '');
    const bytes = Buffer.byteLength(content);
    if (bytes > this.o.maxDocumentBytes) {
      throw new SwitchboardError(
        ErrorCodes.PAYLOAD_TOO_LARGE,
        `${source}: ${bytes} bytes, over the ${this.o.maxDocumentBytes}-byte limit (KB_MAX_DOCUMENT_BYTES)`,
        { statusCode: 413 },
      );
    }
    if (content.includes('\0')) {
      throw new SwitchboardError(ErrorCodes.BAD_REQUEST, `${source}: binary content (NUL bytes); send text`, {
        statusCode: 400,
      });
    }
    const sha256 = createHash('sha256').update(content).digest('hex');
    const chunking = chunkingKey(this.o);
    const embedder = this.o.embedder;
    const before = await kbStore.find(this.pool, origin, source);
    const sameText = before?.sha256 === sha256 && before.chunking === chunking && before.type === type;
    const needsVectors = embedder !== undefined && before?.embeddingModel !== embedder.label;
    if (before && sameText && !needsVectors) return { document: publicDocument(before), status: 'unchanged' };

    let cut: ReturnType<typeof chunkDocument>;
    try {
      cut = chunkDocument(type, content, this.o);
    } catch (err) {
      throw new SwitchboardError(
        ErrorCodes.BAD_REQUEST,
        `${source}: cannot read as ${type}: ${errorMessage(err)}`,
        {
          statusCode: 400,
        },
      );
    }
    let vectors: number[][] | undefined;
    if (embedder && cut.chunks.length > 0) {
      try {
        vectors = await embedder.embed(
          cut.chunks.map((c) => (c.heading ? `${c.heading}\n${c.content}` : c.content)),
        );
      } catch (err) {
        this.o.log.warn(`knowledge: ${source} stored without embeddings; the next sync tries again`, {
          error: { message: errorMessage(err) },
        });
        // Only the vectors were missing, and they still are: nothing to write.
        if (before && sameText) return { document: publicDocument(before), status: 'unchanged' };
      }
    }
    const title = cut.title ?? basename(source, extname(source));
    // A document without chunks has nothing to embed: it counts as embedded, or every sync would retry it.
    const embeddedWith = embedder && (vectors || cut.chunks.length === 0) ? embedder.label : null;
    return withTransaction(this.pool, async (c) => {
      await kbStore.lockDocument(c, origin, source);
      // Another worker may have written this very version while we were chunking.
      const current = await kbStore.find(c, origin, source, true);
      const same = current?.sha256 === sha256 && current.chunking === chunking && current.type === type;
      if (current && same && (embeddedWith === null || current.embeddingModel === embeddedWith)) {
        return { document: publicDocument(current), status: 'unchanged' as const };
      }
      const stored = await kbStore.replace(
        c,
        {
          origin,
          source,
          type,
          title,
          sha256,
          chunking,
          embeddingModel: embeddedWith,
          bytes,
        },
        cut.chunks,
        vectors,
      );
      return {
        document: publicDocument(stored),
        status: current ? ('updated' as const) : ('created' as const),
      };
    });
  }

  /** Knowledge files under `dir`, sub-folders included; links that lead outside it are skipped. */
  private async listFiles(dir: string): Promise<Array<{ source: string; path: string; type: DocumentType }>> {
    let root: string;
    try {
      root = await realpath(dir);
    } catch {
      // A missing folder is a mount gone wrong, not "delete every folder document".
      throw new SwitchboardError(
        ErrorCodes.NOT_FOUND,
        `knowledge folder ${dir} does not exist; nothing changed`,
        {
          statusCode: 404,
        },
      );
    }
    const names = (await readdir(root, { recursive: true })).sort();
    const files: Array<{ source: string; path: string; type: DocumentType }> = [];
    for (const name of names) {
      if (name.split(sep).some((part) => part.startsWith('.'))) continue;
      const type = typeFromName(name);
      if (!type) continue;
      const path = join(root, name);
      const real = await realpath(path).catch(() => undefined);
      const rel = real === undefined ? '..' : relative(root, real);
      if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
        this.o.log.warn(`knowledge: ${name} skipped: it links outside ${dir}`);
        continue;
      }
      if (!(await stat(path)).isFile()) continue;
      files.push({ source: name.split(sep).join('/'), path, type });
    }
    return files;
  }
}

function publicDocument(d: StoredDocument): KbDocument {
  const { chunking: _chunking, ...doc } = d;
  return doc;
}

function toPassage(c: Candidate, score: number): Passage {
  return {
    chunkId: c.chunkId,
    documentId: c.documentId,
    source: c.source,
    title: c.title,
    heading: c.heading,
    content: c.content,
    score: Math.round(score * 1e4) / 1e4,
  };
}
