/** Everything the CLI prints goes through here: aligned tables for people, raw JSON for scripts. */

export type Cell = string | number | boolean | null | undefined;

/** Writes a line to stdout. */
export function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** `--json`: the API's answer as it came, indented, so `jq` and scripts get every field. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** One error line on stderr, the way every failure of the CLI is reported. */
export function printError(message: string): void {
  process.stderr.write(`switchboard: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
}

function text(c: Cell): string {
  if (c === null || c === undefined || c === '') return '-';
  return String(c);
}

/** Cuts a cell to `max` characters, marking the cut. */
export function clip(value: Cell, max: number): string {
  const s = text(value).replace(/\s+/g, ' ');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** An aligned plain-text table (two spaces between columns, the last one unpadded). */
export function table(headers: string[], rows: Cell[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(text))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Prints a table, or `empty` when there are no rows. */
export function printTable(headers: string[], rows: Cell[][], empty = '(none)'): void {
  say(rows.length ? table(headers, rows) : empty);
}

/** 2026-11-23T11:15:34.123Z → 2026-11-23 11:15:34Z; anything else as it is. */
export function when(value: unknown): string {
  if (value === null || value === undefined) return '-';
  const d = value instanceof Date ? value : new Date(String(value));
  if (Number.isNaN(d.getTime())) return String(value);
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}
