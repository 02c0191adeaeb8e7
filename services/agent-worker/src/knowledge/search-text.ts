/** Scripts written without spaces between words. */
const CJK_RUN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+/gu;

/**
 * The text full-text search indexes: Latin words as they are, each run of CJK characters as its
 * overlapping character pairs ("维护窗口" → "维护 护窗 窗口"). PostgreSQL's 'simple' parser reads
 * a whole CJK run as one word, so without this a Chinese question would have to repeat a passage
 * verbatim; with it, word overlap works as it does for English (the approach of Lucene's CJK
 * analyzer). The same function prepares stored chunks and queries.
 */
export function searchText(text: string): string {
  return text.replace(CJK_RUN, (run) => ` ${bigrams(run)} `);
}

function bigrams(run: string): string {
  const chars = [...run];
  if (chars.length < 2) return run;
  const out: string[] = [];
  for (let i = 0; i + 1 < chars.length; i++) out.push(chars[i]! + chars[i + 1]!);
  return out.join(' ');
}

/**
 * The query as trigram matching wants it: a space wherever CJK meets Latin letters or digits, so
 * "重置VPN密码" is compared as "重置 VPN 密码" — pg_trgm pads each word, and a mixed-script word
 * shares almost no trigrams with the same words spaced out.
 */
export function trigramQuery(text: string): string {
  return text
    .replace(CJK_RUN, (run) => ` ${run} `)
    .replace(/\s+/g, ' ')
    .trim();
}
