import { describe, expect, it } from 'vitest';
import { CsvError, chunkCsv, parseCsv } from './chunk-csv.ts';
import { chunkMarkdown } from './chunk-markdown.ts';
import { chunkPlainText, splitBySize } from './chunk-text.ts';
import { chunkingKey, typeFromName } from './chunking.ts';
import type { ChunkingSettings } from './types.ts';

const settings: ChunkingSettings = { chunkChars: 200, overlapChars: 40, csvRowsPerChunk: 1 };

function words(n: number, prefix = 'w'): string {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`).join(' ');
}

describe('splitBySize', () => {
  it('keeps short text whole and drops empty text', () => {
    expect(splitBySize('  short text  ', 100, 10)).toEqual(['short text']);
    expect(splitBySize('   ', 100, 10)).toEqual([]);
  });

  it('cuts long text into pieces within the size that overlap and together hold every word', () => {
    const text = words(300);
    const pieces = splitBySize(text, 200, 40);
    expect(pieces.length).toBeGreaterThan(5);
    for (const p of pieces) expect(p.length).toBeLessThanOrEqual(200);
    // No piece starts or ends mid-word.
    const all = new Set(text.split(' '));
    for (const p of pieces) for (const w of p.split(' ')) expect(all.has(w), w).toBe(true);
    for (const w of all)
      expect(
        pieces.some((p) => p.split(' ').includes(w)),
        w,
      ).toBe(true);
    for (let i = 1; i < pieces.length; i++) {
      const lastWord = pieces[i - 1]!.split(' ').at(-1)!;
      expect(pieces[i]!.split(' '), `piece ${i} repeats the end of the one before`).toContain(lastWord);
    }
  });

  it('prefers a paragraph break, then a line, then a sentence end', () => {
    const para = `${'a'.repeat(120)}\n\n${'b'.repeat(60)}`;
    expect(splitBySize(para, 150, 0)).toEqual(['a'.repeat(120), 'b'.repeat(60)]);
    const sentences = `${'x '.repeat(50)}ends here. ${'y '.repeat(40)}`;
    expect(splitBySize(sentences, 150, 0)[0]).toMatch(/ends here\.$/);
  });

  it('splits Chinese text at sentence ends and never halves a surrogate pair', () => {
    const zh = '这是一个很长的句子，用来测试中文的切分效果。'.repeat(20);
    const pieces = splitBySize(zh, 100, 10);
    for (const p of pieces.slice(0, -1)) expect(p.endsWith('。')).toBe(true);
    const emoji = '😀'.repeat(150);
    for (const p of splitBySize(emoji, 101, 0)) expect(p).toMatch(/^(?:😀)+$/u);
  });
});

describe('chunkMarkdown', () => {
  it('labels chunks with their heading path and takes the first # heading as title', () => {
    const md = [
      '# Runbook',
      'Intro text.',
      '## PostgreSQL',
      '### Restart `postgres`',
      'Run **this**:',
      '```sh',
      '# not a heading',
      'docker compose restart postgres',
      '```',
      '## RabbitMQ',
      'Queues.',
      'Setext heading\n--------------',
      'Under setext.',
    ].join('\n\n');
    const { title, chunks } = chunkMarkdown(md, settings);
    expect(title).toBe('Runbook');
    expect(chunks.map((c) => c.heading)).toEqual([
      'Runbook',
      'Runbook › PostgreSQL › Restart postgres',
      'Runbook › RabbitMQ',
      'Runbook › Setext heading',
    ]);
    expect(chunks[1]!.content).toContain('# not a heading');
    expect(chunks[1]!.content).toContain('docker compose restart postgres');
  });

  it('splits a long section into pieces that all carry the heading', () => {
    const md = `# Doc\n\n## Long\n\n${words(40, 'p')}\n\n${words(40, 'q')}\n\n${words(200, 'r')}`;
    const { chunks } = chunkMarkdown(md, settings);
    expect(chunks.length).toBeGreaterThan(4);
    for (const c of chunks) {
      expect(c.heading).toBe('Doc › Long');
      expect(c.content.length).toBeLessThanOrEqual(200);
    }
  });

  it('has no title and an empty heading without headings', () => {
    expect(chunkMarkdown('just text', settings)).toEqual({
      title: undefined,
      chunks: [{ heading: '', content: 'just text' }],
    });
  });
});

describe('CSV', () => {
  it('parses quotes, doubled quotes, delimiters and line breaks inside fields, CRLF and LF', () => {
    const text = 'name,note\r\n"Smith, J","said ""hi""\nthen left"\r\nplain,x\n\n';
    expect(parseCsv(text)).toEqual([
      ['name', 'note'],
      ['Smith, J', 'said "hi"\nthen left'],
      ['plain', 'x'],
    ]);
  });

  it('reads semicolon and tab separated files', () => {
    expect(parseCsv('a;b\n1;2,5\n')).toEqual([
      ['a', 'b'],
      ['1', '2,5'],
    ]);
    expect(parseCsv('a\tb\n1\t2\n')).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
  });

  it('refuses a quote that never closes', () => {
    expect(() => parseCsv('a,b\n"open,1\n')).toThrow(CsvError);
  });

  it('makes every chunk name its columns, N rows at a time', () => {
    const text = 'service,owner,port\npostgres,Alice,5432\nredis,,6379\nnginx,Dave,443\n';
    expect(chunkCsv(text, settings)).toEqual([
      { heading: 'row 2', content: 'service: postgres\nowner: Alice\nport: 5432' },
      { heading: 'row 3', content: 'service: redis\nport: 6379' },
      { heading: 'row 4', content: 'service: nginx\nowner: Dave\nport: 443' },
    ]);
    const two = chunkCsv(text, { ...settings, csvRowsPerChunk: 2 });
    expect(two.map((c) => c.heading)).toEqual(['rows 2-3', 'row 4']);
    expect(two[0]!.content).toBe('service: postgres\nowner: Alice\nport: 5432\n\nservice: redis\nport: 6379');
    expect(chunkCsv('only,header\n', settings)).toEqual([]);
  });
});

describe('plain text and types', () => {
  it('packs paragraphs up to the chunk size', () => {
    const text = `${'a'.repeat(80)}\n\n${'b'.repeat(80)}\n\n${'c'.repeat(80)}`;
    expect(chunkPlainText(text, settings).map((c) => c.content)).toEqual([
      `${'a'.repeat(80)}\n\n${'b'.repeat(80)}`,
      'c'.repeat(80),
    ]);
  });

  it('knows types by extension and keys chunking settings', () => {
    expect(typeFromName('a/Runbook.MD')).toBe('markdown');
    expect(typeFromName('x.csv')).toBe('csv');
    expect(typeFromName('notes.txt')).toBe('text');
    expect(typeFromName('image.png')).toBeUndefined();
    expect(chunkingKey(settings)).not.toBe(chunkingKey({ ...settings, chunkChars: 300 }));
  });
});
