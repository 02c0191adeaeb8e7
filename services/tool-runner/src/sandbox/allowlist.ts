import { type ProgramRules, SHELL_CATALOGUE, type ValueKind } from './catalogue.ts';

/** One program an installation allows, with the catalogue's rules for it. */
export interface AllowedProgram {
  name: string;
  rules: ProgramRules;
}

import { MAX_ARG_CHARS, MAX_ARGS } from '@switchboard/tools';

export { MAX_ARG_CHARS, MAX_ARGS };

const catalogueNames = () => Object.keys(SHELL_CATALOGUE).sort().join(', ');

/**
 * Parses `SHELL_ALLOWLIST`: comma-separated program names, each from the shipped catalogue
 * (catalogue.ts), whose rules decide the arguments. Throws with the entry at fault.
 */
export function parseShellAllowlist(raw: string): AllowedProgram[] {
  const out: AllowedProgram[] = [];
  for (const entry of raw.split(',').map((e) => e.trim())) {
    if (!entry) continue;
    if (/\s/.test(entry)) {
      throw new Error(
        `"${entry}": entries are program names only; the arguments each program may take come with the shell catalogue`,
      );
    }
    if (entry.includes('/')) {
      throw new Error(`"${entry}": programs are named from the shell catalogue, not by path`);
    }
    const rules = Object.hasOwn(SHELL_CATALOGUE, entry) ? SHELL_CATALOGUE[entry] : undefined;
    if (!rules) {
      throw new Error(
        `"${entry}" is not in the shell catalogue, which holds only programs whose arguments can be checked: ${catalogueNames()}`,
      );
    }
    if (!out.some((p) => p.name === entry)) out.push({ name: entry, rules });
  }
  return out;
}

/** Describes the allowlist for a refusal message: what the model may call instead. */
export function describeAllowlist(allowed: AllowedProgram[]): string {
  if (allowed.length === 0) return 'no commands are allowed on this installation';
  return `allowed commands: ${allowed.map((a) => a.name).join(', ')}`;
}

const kindName = (k: ValueKind): string =>
  typeof k === 'object'
    ? k.oneOf.join('|')
    : {
        path: 'FILE',
        count: 'N',
        number: 'NUMBER',
        duration: 'SECONDS',
        text: 'TEXT',
        'date-format': '+FORMAT',
        'date-string': 'DATE',
        unit: 'UNIT',
      }[k];

/** The allowed form of one program, e.g. `head [-n N] [-q] … FILE…, FILE: a path in the workspace`. */
export function describeProgram(p: AllowedProgram): string {
  const r = p.rules;
  if (r.parse === 'none') return `${p.name} TEXT… (${r.summary})`;
  const opts = Object.entries(r.options).map(([o, k]) => (k === null ? o : `${o} ${kindName(k)}`));
  const ops = [...(r.leading ?? []).map(kindName)];
  if (r.operands !== null) ops.push(`${kindName(r.operands)}…`);
  const files = Object.values(r.options).includes('path') || r.operands === 'path';
  return [
    `${p.name}${opts.length ? ` [${opts.join(' ')}]` : ''}${ops.length ? ` ${ops.join(' ')}` : ' (no operands)'}`,
    files ? '; FILE: a path inside the workspace' : '',
  ].join('');
}

const KIND_CHECKS: Record<Exclude<ValueKind, object>, RegExp> = {
  path: /^[^\0]+$/,
  count: /^[-+]?\d{1,12}$/,
  number: /^[-+]?(\d{1,15}(\.\d{1,15})?|\.\d{1,15})$/,
  duration: /^(\d{1,9}(\.\d{1,9})?|\.\d{1,9})[smhd]?$/,
  text: /^[^\0]*$/,
  'date-format': /^\+[^\0\n]{0,200}$/,
  'date-string': /^(?!.*TZ=)[^\0"\n]{0,200}$/i,
  unit: /^[A-Za-z0-9][A-Za-z0-9:_.@\\-]{0,255}$/,
};

function valueFits(kind: ValueKind, v: string): boolean {
  if (typeof kind === 'object') return kind.oneOf.includes(v);
  return KIND_CHECKS[kind].test(v);
}

/**
 * Where a path sits in argv, so the checked, resolved path can replace it: the argument at
 * `index`, after `prefix` (`--file=` or `-f` when the value is attached).
 */
export interface PathSlot {
  index: number;
  prefix: string;
  value: string;
}

export type CommandCheck =
  | { ok: true; program: AllowedProgram; paths: PathSlot[] }
  | { ok: false; reason: string };

const no = (reason: string): CommandCheck => ({ ok: false, reason });

/**
 * Whether `program args…` fits the catalogue's rules for it, read the way GNU getopt reads it:
 * options anywhere until `--`, short ones clustered (`-hT`, `-n5`), long ones exact, with
 * `=value` or the next argument as the value. No shell ever sees the command, so metacharacters
 * are plain text; what is checked here is which program runs and which options it is given.
 * Paths are only syntax-checked here: confinePaths (paths.ts) confines them to the workspace.
 */
export function checkCommand(allowed: AllowedProgram[], program: string, args: string[]): CommandCheck {
  if (program.includes('\0') || args.some((a) => a.includes('\0'))) {
    return no('NUL bytes are not allowed in a command or its arguments');
  }
  if (args.length > MAX_ARGS) return no(`at most ${MAX_ARGS} arguments are allowed`);
  if (args.some((a) => a.length > MAX_ARG_CHARS)) {
    return no(`an argument is longer than ${MAX_ARG_CHARS} characters`);
  }
  const p = allowed.find((a) => a.name === program);
  if (!p) {
    const hint = /[\s;|&$`<>(){}\n\\'"*?]/.test(program)
      ? ' (commands run without a shell: give the program name alone and its arguments in "args")'
      : program.includes('/')
        ? " (give the program by name: it runs from the sandbox's own path)"
        : '';
    return no(`"${program.slice(0, 100)}" is not on the allowlist${hint}; ${describeAllowlist(allowed)}`);
  }
  const r = p.rules;
  const usage = () => `allowed: ${describeProgram(p)}`;
  const bad = (what: string) => no(`${program}: ${what}; ${usage()}`);
  const paths: PathSlot[] = [];
  const given = new Set<string>();
  const operands: Array<{ index: number; value: string }> = [];

  const takeValue = (opt: string, kind: ValueKind, v: string, index: number, prefix: string) => {
    if (!valueFits(kind, v)) return `option ${opt} needs ${kindName(kind)}, not "${v.slice(0, 80)}"`;
    if (kind === 'path') paths.push({ index, prefix, value: v });
    return undefined;
  };

  if (r.parse === 'none') {
    for (const [index, value] of args.entries()) operands.push({ index, value });
  } else {
    let endOfOptions = false;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (endOfOptions || a === '-' || !a.startsWith('-')) {
        operands.push({ index: i, value: a });
        continue;
      }
      if (a === '--') {
        endOfOptions = true;
        continue;
      }
      if (a.startsWith('--')) {
        const eq = a.indexOf('=');
        const name = eq < 0 ? a : a.slice(0, eq);
        if (!Object.hasOwn(r.options, name)) return bad(`option ${name.slice(0, 80)} is not allowed`);
        const kind = r.options[name]!;
        given.add(name);
        if (kind === null) {
          if (eq >= 0) return bad(`option ${name} takes no value`);
          continue;
        }
        let err: string | undefined;
        if (eq >= 0) err = takeValue(name, kind, a.slice(eq + 1), i, `${name}=`);
        else if (i + 1 >= args.length) err = `option ${name} needs a value`;
        else err = takeValue(name, kind, args[++i]!, i, '');
        if (err) return bad(err);
        continue;
      }
      // A cluster of short options: each letter one option, until one that takes a value, which
      // is the rest of the cluster or else the next argument.
      for (let j = 1; j < a.length; j++) {
        const name = `-${a[j]}`;
        if (!Object.hasOwn(r.options, name)) return bad(`option ${name} is not allowed`);
        const kind = r.options[name]!;
        given.add(name);
        if (kind === null) continue;
        const rest = a.slice(j + 1);
        let err: string | undefined;
        if (rest) err = takeValue(name, kind, rest, i, a.slice(0, j + 1));
        else if (i + 1 >= args.length) err = `option ${name} needs a value`;
        else err = takeValue(name, kind, args[++i]!, i, '');
        if (err) return bad(err);
        break;
      }
    }
  }

  const leading = r.leadingUnless?.some((o) => given.has(o)) ? [] : (r.leading ?? []);
  for (const [n, kind] of leading.entries()) {
    const op = operands[n];
    if (!op) return bad(`${kindName(kind)} is missing`);
    if (!valueFits(kind, op.value)) return bad(`"${op.value.slice(0, 80)}" is not ${kindName(kind)}`);
  }
  const rest = operands.slice(leading.length);
  if (r.operands === null && rest.length > 0) return bad('it takes no operands');
  if (rest.length < (r.minOperands ?? 0)) return bad(`it needs at least ${r.minOperands} operand(s)`);
  if (rest.length > (r.maxOperands ?? MAX_ARGS)) return bad(`it takes at most ${r.maxOperands} operand(s)`);
  for (const op of rest) {
    const kind = r.operands!;
    if (!valueFits(kind, op.value)) return bad(`"${op.value.slice(0, 80)}" is not ${kindName(kind)}`);
    if (kind === 'path') paths.push({ index: op.index, prefix: '', value: op.value });
  }
  return { ok: true, program: p, paths };
}
