-- The knowledge base: documents from the knowledge folder or the admin API, cut into chunks that are
-- searched by full text and by trigram similarity, and optionally re-ranked by embeddings.

-- pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE IF NOT EXISTS kb_documents (
  id              bigserial   PRIMARY KEY,
  -- 'folder': a file under KNOWLEDGE_DIR, removed when the file goes; 'api': sent by an admin.
  origin          text        NOT NULL CHECK (origin IN ('folder', 'api')),
  -- The path relative to KNOWLEDGE_DIR, or the name given to the admin API; shown in citations.
  source          text        NOT NULL,
  type            text        NOT NULL CHECK (type IN ('markdown', 'csv', 'text')),
  title           text        NOT NULL,
  sha256          text        NOT NULL,
  -- The chunking settings the chunks were cut with: new settings re-chunk unchanged files.
  chunking        text        NOT NULL,
  -- The model the chunks' embeddings came from; NULL when they have none.
  embedding_model text,
  bytes           integer     NOT NULL,
  chunk_count     integer     NOT NULL,
  ingested_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (origin, source)
);

CREATE TABLE IF NOT EXISTS kb_chunks (
  id          bigserial PRIMARY KEY,
  document_id bigint    NOT NULL REFERENCES kb_documents (id) ON DELETE CASCADE,
  ordinal     integer   NOT NULL,
  -- Where the chunk sits: "Runbook › PostgreSQL › Restart" for Markdown, "rows 2-3" for CSV.
  heading     text      NOT NULL DEFAULT '',
  content     text      NOT NULL,
  -- Heading and content with each run of CJK characters written as its overlapping character pairs
  -- (written by the worker): 'simple' reads a CJK run as one word, the pairs make words of it.
  search_text text      NOT NULL,
  -- 'simple': no stemming or stop words, so any language tokenises the same way.
  tsv         tsvector  GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED,
  embedding   real[],
  UNIQUE (document_id, ordinal)
);

CREATE INDEX IF NOT EXISTS kb_chunks_tsv ON kb_chunks USING gin (tsv);
-- Trigrams find what words miss: typos, partial words, and Chinese phrased close to the text. The
-- heading is included because an FAQ's question is its heading. Queries must use this very
-- expression for the index to apply.
CREATE INDEX IF NOT EXISTS kb_chunks_trgm ON kb_chunks USING gin ((heading || ' ' || content) gin_trgm_ops);
