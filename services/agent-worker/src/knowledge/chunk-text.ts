import type { Chunk, ChunkingSettings } from './types.ts';

/** Break points, best first: a paragraph, a line, the end of a sentence (Latin or CJK), a space. */
const BREAKS: RegExp[] = [/\n\s*\n/g, /\n/g, /[.!?;](?=\s)|[。！？；]/g, /\s/g];

/**
 * Cuts text into pieces of at most `max` characters, each ending at the best break point in its
 * second half, and each starting with the last `overlap` characters of the one before, so a fact
 * cut in two is still whole in one of the pieces.
 */
export function splitBySize(text: string, max: number, overlapChars: number): string[] {
  // Each piece advances by at least half the size, so an overlap beyond a quarter would mostly repeat.
  const overlap = Math.min(overlapChars, Math.floor(max / 4));
  const clean = text.trim();
  if (clean.length <= max) return clean === '' ? [] : [clean];
  const pieces: string[] = [];
  let start = 0;
  while (start < clean.length) {
    let end = Math.min(start + max, clean.length);
    if (end < clean.length) end = breakPoint(clean, start + Math.floor(max / 2), end);
    const piece = clean.slice(start, end).trim();
    if (piece !== '') pieces.push(piece);
    if (end >= clean.length) break;
    // Back up by the overlap, then forward to the start of a word so no piece begins mid-word.
    let next = Math.max(end - overlap, start + 1);
    if (overlap > 0) {
      const space = clean.slice(next, end).search(/\s/);
      if (space >= 0) next += space + 1;
    }
    start = safeIndex(clean, Math.min(next, end));
  }
  return pieces;
}

function breakPoint(text: string, from: number, to: number): number {
  const window = text.slice(from, to);
  for (const re of BREAKS) {
    let last = -1;
    for (const m of window.matchAll(re)) last = m.index + m[0].length;
    if (last > 0) return safeIndex(text, from + last);
  }
  return safeIndex(text, to);
}

/** Never cut between the two halves of a surrogate pair (emoji, rare CJK). */
function safeIndex(text: string, i: number): number {
  const c = text.charCodeAt(i - 1);
  return c >= 0xd800 && c <= 0xdbff ? i - 1 : i;
}

/**
 * Plain text: paragraphs packed together up to the chunk size; a paragraph longer than that is
 * split by size with overlap.
 */
export function chunkPlainText(content: string, s: ChunkingSettings): Chunk[] {
  const paragraphs = content
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean);
  return packParagraphs(paragraphs, s).map((c) => ({ heading: '', content: c }));
}

/** Joins consecutive paragraphs while they fit; used for text files and Markdown sections. */
export function packParagraphs(paragraphs: readonly string[], s: ChunkingSettings): string[] {
  const out: string[] = [];
  let current = '';
  for (const p of paragraphs) {
    if (p.length > s.chunkChars) {
      if (current) out.push(current);
      current = '';
      out.push(...splitBySize(p, s.chunkChars, s.overlapChars));
      continue;
    }
    if (current && current.length + 2 + p.length > s.chunkChars) {
      out.push(current);
      current = p;
    } else {
      current = current ? `${current}\n\n${p}` : p;
    }
  }
  if (current) out.push(current);
  return out;
}
