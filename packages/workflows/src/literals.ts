import { WorkflowError, WorkflowErrorCode } from './errors.ts';
import type { WorkflowStep } from './schema.ts';
import { formatPath, type PathPart, parseTemplate } from './template.ts';

/*
 * What a step does is written in the workflow; only what it works on may come from a run. A
 * template can fill a URL's path, query or body, a shell argument, a message's text — never a
 * URL's scheme or host, a tool's or skill's name, the program a shell step runs, a files
 * operation or the channel a message goes to. Trigger data (a webhook body, a chat message) is
 * anyone's, and step outputs can carry it along, so the rule is no template at all in those places.
 */

export interface LiteralProblem {
  /** Where in the step, from its `with` down. */
  at: PathPart[];
  message: string;
}

/** True when the string holds a `{{ … }}` (a malformed one counts: it is refused elsewhere). */
export function hasTemplate(s: string): boolean {
  try {
    return parseTemplate(s).some((p) => typeof p !== 'string');
  } catch {
    return true;
  }
}

export type OriginOutcome = { ok: true; origin: string } | { ok: false; reason: string };

// The scheme and authority, then where the authority ends: `/`, `?`, `#` or the end of the text.
const AUTHORITY = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#\\]*)([/?#]|$)/;

/**
 * The scheme://host[:port] a URL template pins down, or why it pins none: the authority must be
 * literal text that ends before the first `{{ … }}` — `https://api.example.com{{ x }}` is refused,
 * as the value could go on with `.evil.net`.
 */
export function fixedOrigin(template: string): OriginOutcome {
  let pieces: ReturnType<typeof parseTemplate>;
  try {
    pieces = parseTemplate(template);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  const literal = pieces.every((p) => typeof p === 'string');
  const head = typeof pieces[0] === 'string' ? pieces[0] : '';
  const m = AUTHORITY.exec(head);
  if (!m || (!literal && m[2] === '')) {
    return {
      ok: false,
      reason:
        'the scheme and host must be written out, ending in "/", "?" or "#" before any {{ … }}: templates may fill the path, query or fragment only (e.g. https://api.example.com/items/{{ trigger.body.id }})',
    };
  }
  let url: URL;
  try {
    url = new URL(m[1]!);
  } catch {
    return { ok: false, reason: `"${m[1]!.slice(0, 200)}" is not a URL` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, reason: `only http:// and https:// URLs (got ${url.protocol})` };
  }
  if (url.username || url.password) {
    return { ok: false, reason: 'no user name or password in the URL: send them in a header' };
  }
  return { ok: true, origin: url.origin };
}

/** Set by the HTTP layer or meant for proxies; a workflow setting them could smuggle requests. */
export const FORBIDDEN_HEADERS = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'keep-alive',
  'expect',
  'proxy-authorization',
  'proxy-connection',
]);

function literal(value: unknown, at: PathPart[], what: string, out: LiteralProblem[]): void {
  if (typeof value === 'string' && hasTemplate(value)) {
    out.push({ at, message: `${what} must be written out, not filled from a {{ … }}` });
  }
}

function urlOrigin(value: unknown, at: PathPart[], out: LiteralProblem[]): void {
  if (typeof value !== 'string') return;
  const o = fixedOrigin(value);
  if (!o.ok) out.push({ at, message: o.reason });
}

/** The parse-time half: every place in a step's `with` that must be literal and is not. */
export function literalProblems(step: WorkflowStep): LiteralProblem[] {
  const out: LiteralProblem[] = [];
  switch (step.type) {
    case 'tool': {
      const { tool, arguments: args } = step.with;
      literal(tool, ['tool'], 'the tool name', out);
      if (tool === 'shell') {
        literal(args.command, ['arguments', 'command'], 'the program of a shell step', out);
        if (args.args !== undefined && !Array.isArray(args.args)) {
          out.push({
            at: ['arguments', 'args'],
            message:
              'must be a list written in the workflow, one item per argument (an item may hold a {{ … }})',
          });
        }
      }
      if (tool === 'http_fetch' || tool === 'browser') urlOrigin(args.url, ['arguments', 'url'], out);
      if (tool === 'http_fetch') literal(args.method, ['arguments', 'method'], 'the method', out);
      if (tool === 'files') literal(args.op, ['arguments', 'op'], 'the files operation', out);
      if (tool === 'send_message') literal(args.channel, ['arguments', 'channel'], 'the channel', out);
      break;
    }
    case 'send_message':
      literal(step.with.channel, ['channel'], 'the channel', out);
      break;
    case 'http':
      urlOrigin(step.with.url, ['url'], out);
      for (const name of Object.keys(step.with.headers)) {
        const lower = name.toLowerCase();
        if (FORBIDDEN_HEADERS.has(lower) || lower.startsWith('proxy-')) {
          out.push({ at: ['headers', name], message: `the header "${name}" cannot be set` });
        }
      }
      break;
    case 'skill':
      literal(step.with.skill, ['skill'], 'the skill name', out);
      break;
    case 'prompt':
      break;
  }
  return out;
}

/** The argument of each tool that says what it does, besides a URL's origin. */
const LITERAL_ARGUMENT: Record<string, string> = {
  shell: 'command',
  http_fetch: 'method',
  files: 'op',
  send_message: 'channel',
};

function refused(step: WorkflowStep, at: PathPart[], message: string): WorkflowError {
  return new WorkflowError(
    WorkflowErrorCode.refused,
    `refused: with.${formatPath(at)} of step ${step.id}: ${message}`,
    { retryable: false },
  );
}

function scalarArgs(step: WorkflowStep, args: unknown): string[] | undefined {
  if (args === undefined) return undefined;
  if (!Array.isArray(args)) throw refused(step, ['arguments', 'args'], 'is not a list');
  return args.map((a, i) => {
    if (typeof a === 'string') return a;
    if (typeof a === 'number' || typeof a === 'boolean') return String(a);
    // One {{ … }} keeps its value's type: a list here would smuggle in arguments of its own.
    throw refused(
      step,
      ['arguments', 'args', i],
      `a {{ … }} gave ${a === null ? 'null' : typeof a}, not text`,
    );
  });
}

function sameOrigin(step: WorkflowStep, template: unknown, rendered: unknown, at: PathPart[]): void {
  if (typeof template !== 'string') return;
  const fixed = fixedOrigin(template);
  if (!fixed.ok) throw refused(step, at, fixed.reason);
  let url: URL;
  try {
    url = new URL(String(rendered));
  } catch {
    throw refused(step, at, `"${String(rendered).slice(0, 200)}" is not a URL`);
  }
  if (url.origin !== fixed.origin) {
    throw refused(step, at, `the URL went to ${url.origin}, the workflow names ${fixed.origin}`);
  }
}

/**
 * The run-time half, after rendering: the literal places still hold what the workflow says, URLs
 * still point at the origin it names, shell arguments are one string each. Throws a refusal
 * (never retried); returns the step to run.
 */
export function guardRendered(template: WorkflowStep, rendered: WorkflowStep): WorkflowStep {
  const problems = literalProblems(template);
  if (problems.length > 0) throw refused(template, problems[0]!.at, problems[0]!.message);
  if (template.type === 'http' && rendered.type === 'http') {
    sameOrigin(template, template.with.url, rendered.with.url, ['url']);
    return rendered;
  }
  if (template.type === 'tool' && rendered.type === 'tool') {
    const t = template.with.arguments;
    const r = rendered.with.arguments;
    if (rendered.with.tool !== template.with.tool) throw refused(template, ['tool'], 'the tool changed');
    const key = LITERAL_ARGUMENT[template.with.tool];
    if (key && r[key] !== t[key]) throw refused(template, ['arguments', key], 'changed while rendering');
    if (template.with.tool === 'http_fetch' || template.with.tool === 'browser') {
      sameOrigin(template, t.url, r.url, ['arguments', 'url']);
    }
    if (template.with.tool === 'shell') {
      const args = scalarArgs(template, r.args);
      if (args) return { ...rendered, with: { ...rendered.with, arguments: { ...r, args } } };
    }
    return rendered;
  }
  if (template.type === 'send_message' && rendered.type === 'send_message') {
    if (rendered.with.channel !== template.with.channel) throw refused(template, ['channel'], 'changed');
  }
  if (template.type === 'skill' && rendered.type === 'skill') {
    if (rendered.with.skill !== template.with.skill) throw refused(template, ['skill'], 'changed');
  }
  return rendered;
}
