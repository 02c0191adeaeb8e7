import { marked, type Token } from 'marked';
import { packParagraphs } from './chunk-text.ts';
import type { Chunk, ChunkingSettings } from './types.ts';

export const HEADING_SEPARATOR = ' › ';

/**
 * Markdown: one section per heading (a `#` inside a code block is not a heading — marked's lexer
 * knows), each section's chunks labelled with the heading path ("Runbook › PostgreSQL › Restart").
 * A section longer than the chunk size is packed block by block, and a block longer than that is
 * split by size with overlap.
 */
export function chunkMarkdown(content: string, s: ChunkingSettings): { title?: string; chunks: Chunk[] } {
  const tokens = marked.lexer(content);
  const chunks: Chunk[] = [];
  const path: Array<{ depth: number; text: string }> = [];
  let title: string | undefined;
  let blocks: string[] = [];

  const flush = () => {
    const heading = path.map((h) => h.text).join(HEADING_SEPARATOR);
    for (const piece of packParagraphs(blocks, s)) chunks.push({ heading, content: piece });
    blocks = [];
  };

  for (const token of tokens as Token[]) {
    if (token.type === 'heading') {
      flush();
      const depth = (token as { depth: number }).depth;
      const text = plainHeading((token as { text: string }).text);
      title ??= depth === 1 ? text : undefined;
      while (path.length > 0 && path.at(-1)!.depth >= depth) path.pop();
      path.push({ depth, text });
      continue;
    }
    if (token.type === 'space') continue;
    const raw = token.raw.trim();
    if (raw !== '') blocks.push(raw);
  }
  flush();
  return { title, chunks };
}

/** Heading text without emphasis and code marks, which only add noise to citations. */
function plainHeading(text: string): string {
  return text
    .replace(/`([^`]*)`/g, '$1')
    .replace(/(\*\*|__)(.+?)\1/g, '$2')
    .replace(/\*([^*]+)\*/g, '$1')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim();
}
