import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type CliError, type ExitCode, usageError } from './errors.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type FlagValue = string | boolean | undefined;

/** Flags every command accepts, before or after the command's name. */
export const globalOptions = {
  json: { type: 'boolean' },
  url: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies Options;

export const GLOBAL_FLAGS_HELP = `global flags:
  --json           print the API's JSON instead of a table (every listing and action)
  --url URL        admin API base URL (env SWITCHBOARD_URL, default http://127.0.0.1:8090)
  --token TOKEN    admin token (env SWITCHBOARD_TOKEN or SWITCHBOARD_TOKEN_FILE; prefer those:
                   a flag is visible to other users in the process list)
  -h, --help       this help; every command and subcommand has its own`;

export interface Parsed {
  flags: Record<string, FlagValue>;
  args: string[];
  json: boolean;
}

/** One runnable command: `status`, or `token create`. */
export interface Command {
  /** The words after `switchboard`, e.g. `token create`. */
  name: string;
  /** What comes after the name in the usage line, e.g. `--role R --expire D [--name N]`. */
  synopsis: string;
  summary: string;
  /** Further lines of help (flag descriptions, notes). */
  details?: string;
  options?: Options;
  /** Names of the positional arguments, required unless `optionalArgs`. */
  args?: string[];
  optionalArgs?: boolean;
  // biome-ignore lint/suspicious/noConfusingVoidType: a command that succeeded may return nothing.
  run(p: Parsed): Promise<ExitCode | void>;
}

/** `--help` was asked for: main prints the usage to stdout and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly usage: string) {
    super('help');
  }
}

export function usageOf(cmds: Command[]): string {
  return cmds
    .map((c) => `  switchboard ${c.name}${c.synopsis ? ` ${c.synopsis}` : ''}\n      ${c.summary}`)
    .join('\n');
}

export function commandHelp(c: Command): string {
  return [
    `usage: switchboard ${c.name}${c.synopsis ? ` ${c.synopsis}` : ''}`,
    '',
    c.summary,
    ...(c.details ? ['', c.details] : []),
    '',
    GLOBAL_FLAGS_HELP,
  ].join('\n');
}

/** Parses one command's arguments (with the global flags); bad input is a usage error (exit 2). */
export function parseCommand(c: Command, argv: string[]): Parsed {
  const help = commandHelp(c);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...globalOptions, ...c.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw usageError(`${c.name}: ${(err as Error).message.split('\n')[0]}`, help);
  }
  const flags = parsed.values as Record<string, FlagValue>;
  if (flags.help) throw new HelpRequested(help);
  const names = c.args ?? [];
  const args = parsed.positionals;
  if (args.length > names.length)
    throw usageError(`${c.name}: unexpected argument "${args[names.length]}"`, help);
  if (!c.optionalArgs && args.length < names.length)
    throw usageError(`${c.name}: missing <${names[args.length]}>`, help);
  return { flags, args, json: flags.json === true };
}

/** A string flag's value, or undefined. */
export function flagString(p: Parsed, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** "30s", "15m", "8h", "7d" → seconds; a usage error otherwise. */
export function parseDurationSeconds(text: string, what: string, usage: string): number {
  const m = /^(\d{1,7})([smhd])$/.exec(text.trim());
  if (!m) throw usageError(`${what} "${text}" is not a duration such as 30m, 8h or 7d`, usage);
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/** A usage error about one argument, with the command's help. */
export function badArgument(c: Command, message: string): CliError {
  return usageError(`${c.name}: ${message}`, commandHelp(c));
}
