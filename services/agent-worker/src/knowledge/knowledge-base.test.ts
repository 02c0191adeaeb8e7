import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, createPool, ErrorCodes, migrate, SwitchboardError } from '@switchboard/core';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeLlm, fakeEmbedding, startFakeLlm } from '../../../../test/fakes/llm/server.ts';
import { createTestDatabase, waitFor } from '../../../../test/support/infra.ts';
import { createEmbedder } from './embeddings.ts';
import { KnowledgeBase, type KnowledgeBaseOptions } from './knowledge-base.ts';
import { citedSources, promptContext } from './prompt-context.ts';

const SAMPLES = fileURLToPath(new URL('../../../../workspace/knowledge', import.meta.url));
const log = createLogger('kb-test', 'error');

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
const dirs: string[] = [];

const base: KnowledgeBaseOptions = {
  log,
  chunkChars: 1_200,
  overlapChars: 150,
  csvRowsPerChunk: 1,
  maxDocumentBytes: 64 * 1024,
  trigramThreshold: 0.3,
  defaultLimit: 4,
  minScore: 0.15,
};

function kb(opts: Partial<KnowledgeBaseOptions> = {}, p: pg.Pool = pool): KnowledgeBase {
  return new KnowledgeBase(p, { ...base, ...opts });
}

/** A copy of the shipped workspace/knowledge to change freely. */
function samplesCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-kb-'));
  dirs.push(dir);
  cpSync(SAMPLES, dir, { recursive: true });
  return dir;
}

async function chunkRows(source: string) {
  const r = await pool.query(
    `SELECT c.id, c.ordinal, c.heading, c.content, c.embedding, d.ingested_at
       FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id
      WHERE d.source = $1 ORDER BY c.ordinal`,
    [source],
  );
  return r.rows;
}

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, log);
  await migrate(pool, log);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

beforeEach(async () => {
  await pool.query('TRUNCATE kb_documents CASCADE');
});

describe('ingesting the knowledge folder', () => {
  it('ingests Markdown, CSV and text, chunked and titled', async () => {
    const dir = samplesCopy();
    writeFileSync(join(dir, 'notes.txt'), 'Backups run nightly at 02:00.\n\nThey are kept for 14 days.');
    writeFileSync(join(dir, 'image.png'), 'not a knowledge file');
    writeFileSync(join(dir, '.hidden.md'), '# hidden');
    const k = kb();
    const report = await k.ingestDirectory(dir);
    expect(report).toEqual({
      created: ['faq-zh.md', 'notes.txt', 'runbook.md', 'services.csv'],
      updated: [],
      unchanged: [],
      removed: [],
      failed: [],
    });
    const docs = await k.listDocuments();
    expect(docs.map((d) => [d.source, d.type, d.title, d.origin])).toEqual([
      ['faq-zh.md', 'markdown', '常见问题', 'folder'],
      ['notes.txt', 'text', 'notes', 'folder'],
      ['runbook.md', 'markdown', 'Operations runbook', 'folder'],
      ['services.csv', 'csv', 'services', 'folder'],
    ]);
    for (const d of docs) expect(d.sha256).toMatch(/^[0-9a-f]{64}$/);

    const runbook = await chunkRows('runbook.md');
    expect(runbook.map((c) => c.heading)).toContain('Operations runbook › PostgreSQL › Restart PostgreSQL');
    expect(docs.find((d) => d.source === 'runbook.md')!.chunkCount).toBe(runbook.length);
    const csv = await chunkRows('services.csv');
    expect(csv).toHaveLength(5);
    // Each CSV chunk names its columns; a quoted field with a comma stays one value.
    expect(csv[4].content).toContain('service: backup, nightly');
    expect(csv[4].content).toContain('primary_on_call: Alice Chen');
    expect(csv[0].heading).toBe('row 2');
    expect((await chunkRows('notes.txt')).map((c) => c.content)).toEqual([
      'Backups run nightly at 02:00.\n\nThey are kept for 14 days.',
    ]);
  });

  it('does nothing for unchanged files, replaces changed ones and removes deleted ones', async () => {
    const dir = samplesCopy();
    const k = kb();
    await k.ingestDirectory(dir);
    const before = await chunkRows('runbook.md');
    const faqBefore = await chunkRows('faq-zh.md');

    expect(await k.ingestDirectory(dir)).toMatchObject({
      created: [],
      updated: [],
      unchanged: ['faq-zh.md', 'runbook.md', 'services.csv'],
      removed: [],
    });
    expect(await chunkRows('runbook.md')).toEqual(before);

    writeFileSync(
      join(dir, 'runbook.md'),
      '# Operations runbook\n\n## Redis\n\n### Flush the cache\n\nRun `redis-cli FLUSHDB` on the cache node only.\n',
    );
    unlinkSync(join(dir, 'faq-zh.md'));
    const report = await k.ingestDirectory(dir);
    expect(report).toMatchObject({
      updated: ['runbook.md'],
      removed: ['faq-zh.md'],
      unchanged: ['services.csv'],
    });

    const after = await chunkRows('runbook.md');
    expect(after.map((c) => c.heading)).toEqual(['Operations runbook › Redis › Flush the cache']);
    expect(after[0].id).not.toBe(before[0].id);
    const left = await pool.query('SELECT count(*)::int AS n FROM kb_chunks WHERE id = ANY($1::bigint[])', [
      [...before, ...faqBefore].map((c) => c.id),
    ]);
    expect(left.rows[0].n).toBe(0);
    expect((await k.search('flush redis cache'))[0]).toMatchObject({
      source: 'runbook.md',
      heading: 'Operations runbook › Redis › Flush the cache',
    });
    expect(await k.search('restart postgresql')).not.toContainEqual(
      expect.objectContaining({ source: 'runbook.md', heading: expect.stringContaining('Restart') }),
    );
    expect(await k.search('申请服务器权限')).toEqual([]);
  });

  it('reports a file that cannot be read, keeps its earlier version and ingests the others', async () => {
    const dir = samplesCopy();
    const k = kb({ maxDocumentBytes: 4_096 });
    await k.ingestDirectory(dir);
    const csvBefore = await chunkRows('services.csv');

    writeFileSync(join(dir, 'services.csv'), 'service,owner\n"postgres,Alice\n');
    writeFileSync(join(dir, 'big.md'), `# Big\n\n${'x'.repeat(5_000)}`);
    writeFileSync(join(dir, 'binary.txt'), 'abc\0def');
    writeFileSync(join(dir, 'new.md'), '# New\n\nA new page.');
    const report = await k.ingestDirectory(dir);
    expect(report.created).toEqual(['new.md']);
    expect(report.removed).toEqual([]);
    expect(report.failed).toEqual([
      {
        source: 'big.md',
        code: ErrorCodes.PAYLOAD_TOO_LARGE,
        reason: expect.stringContaining('4096-byte limit'),
      },
      { source: 'binary.txt', code: ErrorCodes.BAD_REQUEST, reason: expect.stringContaining('binary') },
      { source: 'services.csv', code: ErrorCodes.BAD_REQUEST, reason: expect.stringContaining('not closed') },
    ]);
    expect(await chunkRows('services.csv')).toEqual(csvBefore);
  });

  it('refuses a missing folder without removing anything, and skips links that lead outside', async () => {
    const dir = samplesCopy();
    const k = kb();
    await k.ingestDirectory(dir);
    const err = await k.ingestDirectory(join(dir, 'no-such-folder')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe(ErrorCodes.NOT_FOUND);
    expect(await k.listDocuments()).toHaveLength(3);

    const outside = mkdtempSync(join(tmpdir(), 'sb-kb-outside-'));
    dirs.push(outside);
    writeFileSync(join(outside, 'secret.md'), '# Secret\n\nnot for the model');
    symlinkSync(join(outside, 'secret.md'), join(dir, 'linked.md'));
    expect((await k.ingestDirectory(dir)).created).toEqual([]);
    expect((await k.listDocuments()).map((d) => d.source)).not.toContain('linked.md');
  });

  it('lets two workers sync the same folder at once: every document once, its chunks once', async () => {
    const dir = samplesCopy();
    const other = createPool(db.url, log);
    try {
      const [a, b] = await Promise.all([kb().ingestDirectory(dir), kb({}, other).ingestDirectory(dir)]);
      expect([...a.created, ...b.created, ...a.unchanged, ...b.unchanged].sort()).toEqual([
        'faq-zh.md',
        'faq-zh.md',
        'runbook.md',
        'runbook.md',
        'services.csv',
        'services.csv',
      ]);
      const dup = await pool.query(
        `SELECT count(*)::int AS n FROM (SELECT document_id, ordinal FROM kb_chunks
           GROUP BY 1, 2 HAVING count(*) > 1) x`,
      );
      expect(dup.rows[0].n).toBe(0);
      expect(await kb().listDocuments()).toHaveLength(3);
    } finally {
      await other.end();
    }
  });
});

describe('watching the knowledge folder', () => {
  it('syncs files added in sub-folders, changed and removed, without a restart', async () => {
    const dir = samplesCopy();
    const k = kb();
    await k.ingestDirectory(dir);
    const watch = k.watchDirectory(dir, 30);
    const sources = async () => (await k.listDocuments()).map((d) => d.source);
    try {
      mkdirSync(join(dir, 'team'));
      writeFileSync(join(dir, 'team', 'oncall.md'), '# On call\n\nCarol is on call this week.');
      await waitFor('the new file to be ingested', async () => (await sources()).includes('team/oncall.md'));
      writeFileSync(join(dir, 'team', 'oncall.md'), '# On call\n\nDave is on call this week.');
      await waitFor('the change to be ingested', async () =>
        (await k.search('who is on call this week')).some((p) => p.content.includes('Dave')),
      );
      unlinkSync(join(dir, 'services.csv'));
      await waitFor(
        'the removed file to be dropped',
        async () => !(await sources()).includes('services.csv'),
      );
    } finally {
      watch.close();
    }
  });
});

describe('documents from the admin side', () => {
  it('ingests by name, infers or takes the type, and keeps them out of folder syncs', async () => {
    const k = kb();
    const r = await k.ingestDocument('policies/vpn.md', '# VPN policy\n\nUse the VPN for every admin task.');
    expect(r.status).toBe('created');
    expect(r.document).toMatchObject({
      origin: 'api',
      source: 'policies/vpn.md',
      type: 'markdown',
      title: 'VPN policy',
    });
    expect(
      (await k.ingestDocument('policies/vpn.md', '# VPN policy\n\nUse the VPN for every admin task.')).status,
    ).toBe('unchanged');
    expect((await k.ingestDocument('policies/vpn.md', '# VPN policy\n\nAlways use the VPN.')).status).toBe(
      'updated',
    );
    expect((await k.ingestDocument('rota', 'week,who\n1,Alice\n', 'csv')).document.type).toBe('csv');

    const noType = await Promise.resolve()
      .then(() => k.ingestDocument('rota-2', 'x'))
      .catch((e: unknown) => e);
    expect(noType).toMatchObject({ code: ErrorCodes.BAD_REQUEST });

    await k.ingestDirectory(samplesCopy());
    const sources = (await k.listDocuments()).map((d) => `${d.origin}:${d.source}`);
    expect(sources).toEqual([
      'api:policies/vpn.md',
      'api:rota',
      'folder:faq-zh.md',
      'folder:runbook.md',
      'folder:services.csv',
    ]);

    const doc = (await k.listDocuments())[0]!;
    expect(await k.removeDocument(doc.id)).toBe(true);
    expect(await k.removeDocument(doc.id)).toBe(false);
    expect(await k.getDocument(doc.id)).toBeUndefined();
  });
});

describe('search', () => {
  beforeEach(async () => {
    await kb().ingestDirectory(SAMPLES);
  });

  it('finds English passages by their words, heading included', async () => {
    const k = kb();
    expect((await k.search('How do I restart PostgreSQL?'))[0]).toMatchObject({
      source: 'runbook.md',
      title: 'Operations runbook',
      heading: 'Operations runbook › PostgreSQL › Restart PostgreSQL',
    });
    expect((await k.search('renew the TLS certificate'))[0]!.heading).toBe(
      'Operations runbook › TLS certificates › Renew the certificate',
    );
    expect((await k.search('replay the parking queue'))[0]!.heading).toContain('parking queue');
    // The CSV row says who is on call for a service.
    const rota = await k.search('who is on call for rabbitmq');
    expect(rota[0]).toMatchObject({ source: 'services.csv', heading: 'row 3' });
    expect(rota[0]!.content).toContain('primary_on_call: Bob Li');
    // A misspelt word still finds the passage by trigrams.
    expect((await k.search('restrat postgresql')).map((p) => p.heading)).toContain(
      'Operations runbook › PostgreSQL › Restart PostgreSQL',
    );
  });

  it('finds Chinese passages from Chinese questions phrased differently from the text', async () => {
    const k = kb();
    const cases: Array<[string, string]> = [
      ['怎么重置VPN密码', '如何重置 VPN 密码？'],
      ['VPN密码忘了', '如何重置 VPN 密码？'],
      ['服务器权限怎么申请', '如何申请服务器权限？'],
      ['值班电话', '值班电话是多少？'],
      ['维护窗口是什么时候', '什么是停机维护窗口？'],
    ];
    for (const [query, heading] of cases) {
      const [top] = await k.search(query);
      expect(top, query).toMatchObject({ source: 'faq-zh.md', heading: `常见问题 › ${heading}` });
    }
  });

  it('ranks best first, honours the limit, and returns nothing for nothing', async () => {
    const k = kb();
    const all = await k.search('database disk full', { limit: 10 });
    expect(all.length).toBeGreaterThan(1);
    for (let i = 1; i < all.length; i++) expect(all[i - 1]!.score).toBeGreaterThanOrEqual(all[i]!.score);
    expect(all[0]!.heading).toBe('Operations runbook › PostgreSQL › Database disk is full');
    expect(await k.search('database disk full', { limit: 1 })).toHaveLength(1);
    expect(await k.search('   ')).toEqual([]);
    expect(await k.search('zzqx')).toEqual([]);
    // Operators in the websearch syntax are harmless.
    expect(Array.isArray(await k.search(`"restart" -postgres or ' \\ & | !`))).toBe(true);
  });

  it('builds a prompt block with numbered citations and the list of sources', async () => {
    const k = kb();
    const passages = await k.search('restart postgresql', { limit: 2 });
    const block = promptContext(passages);
    expect(block).toMatch(/cite each fact with its passage number in square brackets/);
    expect(block).toContain('[1] runbook.md › Operations runbook › PostgreSQL › Restart PostgreSQL\n"""\n');
    expect(block).toContain('docker compose restart postgres');
    expect(block).toContain(`[2] ${passages[1]!.source}`);
    const sources = block.slice(block.indexOf('\n\nSources:\n'));
    expect(sources.split('\n').filter((l) => /^\[\d\]/.test(l))).toHaveLength(2);
    expect(promptContext([])).toMatch(/no passage/);

    const small = promptContext(passages, { maxChars: 1_000 });
    expect(small.length).toBeLessThanOrEqual(1_000);
    expect(small).toContain('[1] runbook.md');

    expect(citedSources('Run the restart [1]. See also [2][1] and [9].', passages)).toBe(
      `Sources: [1] runbook.md › Operations runbook › PostgreSQL › Restart PostgreSQL; [2] ${passages[1]!.source}${
        passages[1]!.heading ? ` › ${passages[1]!.heading}` : ''
      }`,
    );
    expect(citedSources('No citations here.', passages)).toBe('');
  });
});

describe('embeddings', () => {
  let fake: FakeLlm;

  beforeAll(async () => {
    fake = await startFakeLlm({ models: ['fake-small', 'fake-embed'] });
  });

  afterAll(async () => {
    await fake?.close();
  });

  beforeEach(() => {
    fake.reset();
  });

  const embedderOptions = () => ({
    ollamaUrl: fake.url,
    openaiBaseUrl: `${fake.url}/v1`,
    openaiApiKey: 'unused',
    timeoutMs: 5_000,
    batchSize: 2,
  });

  it('embeds every chunk at ingest, in batches, and records the model', async () => {
    const k = kb({ embedder: createEmbedder('ollama/fake-embed', embedderOptions()) });
    await k.ingestDocument('runbook.md', '# A\n\n## One\n\nfirst\n\n## Two\n\nsecond\n\n## Three\n\nthird');
    const rows = await chunkRows('runbook.md');
    expect(rows).toHaveLength(3);
    // The heading goes into the vector with the text, as it goes into the word index.
    rows.forEach((r) => {
      const want = fakeEmbedding(`${r.heading}\n${r.content}`);
      for (const [i, x] of (r.embedding as number[]).entries()) expect(x).toBeCloseTo(want[i]!, 5);
    });
    expect(fake.embeddingCalls.map((c) => c.input.length)).toEqual([2, 1]);
    expect((await k.listDocuments())[0]!.embeddingModel).toBe('ollama/fake-embed');
  });

  it('re-ranks candidates by meaning: a focused passage beats one that only contains the phrase', async () => {
    const filler = Array.from({ length: 60 }, (_, i) => `topic${i}`).join(' ');
    const docs: Array<[string, string]> = [
      ['long.txt', `restart the nginx server ${filler}`],
      ['short.txt', 'nginx server'],
    ];
    const plain = kb();
    for (const [name, text] of docs) await plain.ingestDocument(name, text);
    const lexical = await plain.search('restart the nginx server');
    expect(lexical.map((p) => p.source)).toEqual(['long.txt', 'short.txt']);

    const k = kb({ embedder: createEmbedder('openai/fake-embed', embedderOptions()) });
    // The same texts: a sync only adds the missing vectors.
    for (const [name, text] of docs) expect((await k.ingestDocument(name, text)).status).toBe('updated');
    fake.reset();
    const reranked = await k.search('restart the nginx server');
    expect(reranked.map((p) => p.source)).toEqual(['short.txt', 'long.txt']);
    expect(fake.embeddingCalls).toEqual([
      expect.objectContaining({ api: 'openai', model: 'fake-embed', input: ['restart the nginx server'] }),
    ]);
  });

  it('stores chunks without vectors when the embedding model is down, and fills them in later', async () => {
    const down = await startFakeLlm({ models: ['fake-embed'] });
    const deadUrl = down.url;
    await down.close();
    const broken = kb({
      embedder: createEmbedder('ollama/fake-embed', { ...embedderOptions(), ollamaUrl: deadUrl }),
    });
    const r = await broken.ingestDocument(
      'runbook.md',
      '# Runbook\n\n## Restart\n\nRestart the nginx server.',
    );
    expect(r.status).toBe('created');
    expect(r.document.embeddingModel).toBeNull();
    expect((await chunkRows('runbook.md'))[0].embedding).toBeNull();
    // Search still answers, by words and trigrams.
    expect((await broken.search('restart nginx'))[0]?.source).toBe('runbook.md');
    // Still down: nothing to rewrite.
    expect(
      (await broken.ingestDocument('runbook.md', '# Runbook\n\n## Restart\n\nRestart the nginx server.'))
        .status,
    ).toBe('unchanged');

    const working = kb({ embedder: createEmbedder('ollama/fake-embed', embedderOptions()) });
    const again = await working.ingestDocument(
      'runbook.md',
      '# Runbook\n\n## Restart\n\nRestart the nginx server.',
    );
    expect(again).toMatchObject({ status: 'updated', document: { embeddingModel: 'ollama/fake-embed' } });
    expect((await chunkRows('runbook.md'))[0].embedding).toHaveLength(256);
    expect(
      (await working.ingestDocument('runbook.md', '# Runbook\n\n## Restart\n\nRestart the nginx server.'))
        .status,
    ).toBe('unchanged');
  });
});
