import { WorkflowError, WorkflowErrorCode } from './errors.ts';

/**
 * `{{ steps.report.output.stdout }}`, `{{ trigger.text }}`, `{{ now }}`: a dotted path into what the
 * run knows, nothing else — no expressions, no calls, no eval. A string that is exactly one
 * `{{ … }}` keeps the value's type (an object for a JSON body); inside text, objects become JSON.
 */
export const TEMPLATE_ROOTS = ['steps', 'trigger', 'now', 'today', 'workflow', 'run', 'error'] as const;
export type TemplateRoot = (typeof TEMPLATE_ROOTS)[number];

export type PathPart = string | number;
export interface TemplateRef {
  /** The text between the braces, trimmed, for messages. */
  source: string;
  path: PathPart[];
}
type Piece = string | TemplateRef;

const TAG = /\{\{(.*?)\}\}/gs;
const PART = /^(?:\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d{1,6})\])/;
const ROOT = /^([A-Za-z_][A-Za-z0-9_-]*)/;

function parseRef(raw: string): TemplateRef {
  const source = raw.trim();
  const root = ROOT.exec(source);
  if (!root) throw new Error(`"{{ ${source} }}" is not a path (write e.g. {{ steps.report.output }})`);
  const path: PathPart[] = [root[1]!];
  let rest = source.slice(root[0].length);
  while (rest.length > 0) {
    const m = PART.exec(rest);
    if (!m) {
      throw new Error(
        `"{{ ${source} }}": unexpected "${rest.slice(0, 20)}" (only .name and [number] are allowed)`,
      );
    }
    path.push(m[1] ?? Number(m[2]));
    rest = rest.slice(m[0].length);
  }
  if (!(TEMPLATE_ROOTS as readonly string[]).includes(path[0] as string)) {
    throw new Error(`"{{ ${source} }}": unknown name "${path[0]}" (known: ${TEMPLATE_ROOTS.join(', ')})`);
  }
  return { source, path };
}

/** Splits a string into text and references; throws with a reason on a malformed tag. */
export function parseTemplate(s: string): Piece[] {
  const pieces: Piece[] = [];
  let last = 0;
  for (const m of s.matchAll(TAG)) {
    if (m.index > last) pieces.push(s.slice(last, m.index));
    pieces.push(parseRef(m[1]!));
    last = m.index + m[0].length;
  }
  if (last < s.length) pieces.push(s.slice(last));
  const tail = typeof pieces.at(-1) === 'string' ? (pieces.at(-1) as string) : '';
  if (tail.includes('{{')) throw new Error(`unclosed "{{" in "${s.slice(0, 60)}"`);
  return pieces;
}

/** Every string inside a value (objects, arrays), with its path, for validation and rendering. */
function* strings(value: unknown, at: PathPart[] = []): Generator<[PathPart[], string]> {
  if (typeof value === 'string') yield [at, value];
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* strings(v, [...at, i]);
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) yield* strings(v, [...at, k]);
}

/** The references in every string of `value`, with where they sit; throws on a malformed tag. */
export function templateRefs(value: unknown): Array<{ at: PathPart[]; ref: TemplateRef }> {
  const out: Array<{ at: PathPart[]; ref: TemplateRef }> = [];
  for (const [at, s] of strings(value)) {
    for (const p of parseTemplate(s)) if (typeof p !== 'string') out.push({ at, ref: p });
  }
  return out;
}

function lookup(ctx: Record<string, unknown>, ref: TemplateRef): unknown {
  let cur: unknown = ctx;
  for (const [i, part] of ref.path.entries()) {
    const here = ref.path.slice(0, i).join('.') || 'the run';
    const ok =
      cur !== null &&
      typeof cur === 'object' &&
      (typeof part === 'number' ? Array.isArray(cur) && part < cur.length : Object.hasOwn(cur, part));
    if (!ok) {
      const keys =
        cur && typeof cur === 'object' && !Array.isArray(cur) ? Object.keys(cur).slice(0, 20).join(', ') : '';
      throw new WorkflowError(
        WorkflowErrorCode.template,
        `{{ ${ref.source} }}: ${here} has no ${typeof part === 'number' ? `item [${part}]` : `"${part}"`}${keys ? ` (it has: ${keys})` : ''}`,
        { retryable: false },
      );
    }
    cur = (cur as Record<PathPart, unknown>)[part];
  }
  return cur;
}

function asText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function renderString(s: string, ctx: Record<string, unknown>): unknown {
  let pieces: Piece[];
  try {
    pieces = parseTemplate(s);
  } catch (err) {
    throw new WorkflowError(WorkflowErrorCode.template, (err as Error).message, { retryable: false });
  }
  if (pieces.length === 1 && typeof pieces[0] !== 'string') return lookup(ctx, pieces[0]!);
  return pieces.map((p) => (typeof p === 'string' ? p : asText(lookup(ctx, p)))).join('');
}

/** Renders every string inside `value` against the run's context. */
export function renderTemplate<T>(value: T, ctx: Record<string, unknown>): T {
  if (typeof value === 'string') return renderString(value, ctx) as T;
  if (Array.isArray(value)) return value.map((v) => renderTemplate(v, ctx)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderTemplate(v, ctx)])) as T;
  }
  return value;
}

/** `with.arguments.args[0]` */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}
