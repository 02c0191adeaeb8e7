import type { Chunk, ChunkingSettings } from './types.ts';

export class CsvError extends Error {}

/**
 * RFC 4180 records: quoted fields may hold the delimiter, quotes (doubled) and line breaks; CRLF
 * or LF ends a record. The delimiter is the one of `,` `;` tab that the header line uses most,
 * since spreadsheets in many locales export `;`.
 * NOTE: a CSV library (csv-parse) would be the first choice; none is installed in this workspace.
 */
export function parseCsv(text: string): string[][] {
  const delimiter = sniffDelimiter(text);
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        field += c;
      }
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
    } else if (c === delimiter) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      if (c === '\r' && text[i + 1] === '\n') i++;
    } else {
      field += c;
    }
    i++;
  }
  if (quoted) throw new CsvError('a quoted field is not closed before the end of the file');
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.some((f) => f.trim() !== ''));
}

function sniffDelimiter(text: string): string {
  const firstLine = text.slice(0, text.search(/\r?\n|$/));
  let best = ',';
  let bestCount = 0;
  for (const d of [',', ';', '\t']) {
    const count = firstLine.split(d).length - 1;
    if (count > bestCount) {
      best = d;
      bestCount = count;
    }
  }
  return best;
}

/**
 * CSV: the first row names the columns; every chunk holds `csvRowsPerChunk` rows written as
 * `column: value` lines, so each chunk says what its values mean without the rest of the file.
 * Rows are numbered as a spreadsheet shows them (the header is row 1).
 */
export function chunkCsv(content: string, s: ChunkingSettings): Chunk[] {
  const rows = parseCsv(content);
  if (rows.length === 0) return [];
  const header = rows[0]!.map((h, i) => h.trim() || `column ${i + 1}`);
  const chunks: Chunk[] = [];
  for (let r = 1; r < rows.length; r += s.csvRowsPerChunk) {
    const group = rows.slice(r, r + s.csvRowsPerChunk);
    const content = group.map((row) => describeRow(header, row)).join('\n\n');
    const first = r + 1;
    const last = r + group.length;
    chunks.push({ heading: first === last ? `row ${first}` : `rows ${first}-${last}`, content });
  }
  return chunks;
}

function describeRow(header: readonly string[], row: readonly string[]): string {
  const lines: string[] = [];
  row.forEach((value, i) => {
    const v = value.trim();
    if (v !== '') lines.push(`${header[i] ?? `column ${i + 1}`}: ${v}`);
  });
  return lines.join('\n');
}
