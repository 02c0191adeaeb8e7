/**
 * switchboard: the operator's command line for a running appliance. This file only parses the
 * command line and dispatches; each command group lives in commands/. Exit statuses: errors.ts.
 */
import { parseArgs } from 'node:util';
import {
  type Command,
  GLOBAL_FLAGS_HELP,
  globalOptions,
  HelpRequested,
  parseCommand,
  usageOf,
} from './args.ts';
import { backupCommands } from './commands/backup.ts';
import { pairingCommands } from './commands/pairing.ts';
import { parkingCommands } from './commands/parking.ts';
import { statusCommand } from './commands/status.ts';
import { tokenCommands } from './commands/token.ts';
import { topCommand } from './commands/top.ts';
import { traceCommand } from './commands/trace.ts';
import { workflowCommands } from './commands/workflow.ts';
import { CliError, ExitCode, usageError } from './errors.ts';
import { printError } from './output.ts';

/** Command groups: a single command (`status`) or subcommands (`token create|list|revoke`). */
const GROUPS: Record<string, Command | Command[]> = {
  status: statusCommand,
  token: tokenCommands,
  trace: traceCommand,
  top: topCommand,
  parking: parkingCommands,
  pairing: pairingCommands,
  backup: backupCommands,
  workflow: workflowCommands,
};
const ALL = Object.values(GROUPS).flat();

const USAGE = `usage: switchboard [global flags] <command> [arguments]

${usageOf(ALL)}

${GLOBAL_FLAGS_HELP}

environment:
  SWITCHBOARD_URL, SWITCHBOARD_TOKEN(_FILE)  the admin API and an admin token
  DATABASE_URL(_FILE)                        PostgreSQL, for token commands and backup restore
  BACKUP_URL (default http://backup:8090), BACKUP_TOKEN(_FILE), BACKUP_DIR   backup commands
exit status: 0 ok, 1 failed (or a service not ready), 2 usage, 3 not found,
  4 unauthorised or forbidden, 5 a service could not be reached`;

function groupUsage(name: string, cmds: Command[]): string {
  return `usage:\n${usageOf(cmds)}\n\n'switchboard ${name} <subcommand> --help' tells more.\n\n${GLOBAL_FLAGS_HELP}`;
}

/** Global flags may come before the command; they are handed on to it, so they work anywhere. */
function splitLeadingFlags(argv: string[]): { lead: string[]; rest: string[] } {
  const lead: string[] = [];
  let i = 0;
  while (i < argv.length && (argv[i] ?? '').startsWith('-')) {
    const a = argv[i] ?? '';
    lead.push(a);
    const name = a.replace(/^--?/, '').split('=')[0] ?? '';
    const def = (globalOptions as Record<string, { type: string }>)[name];
    if (def?.type === 'string' && !a.includes('=') && i + 1 < argv.length) lead.push(argv[++i] ?? '');
    i++;
  }
  return { lead, rest: argv.slice(i) };
}

async function main(argv: string[]): Promise<number> {
  const { lead, rest } = splitLeadingFlags(argv);
  try {
    parseArgs({ args: lead, options: globalOptions, allowPositionals: false, strict: true });
  } catch (err) {
    throw usageError((err as Error).message.split('\n')[0] ?? 'bad flag', USAGE);
  }
  const [name, ...more] = rest;
  if (!name) {
    if (lead.includes('--help') || lead.includes('-h')) throw new HelpRequested(USAGE);
    throw usageError('no command given', USAGE);
  }
  if (name === 'help') throw new HelpRequested(USAGE);
  const group = GROUPS[name];
  if (!group) throw usageError(`unknown command "${name}"`, USAGE);
  let cmd: Command;
  let args: string[];
  if (Array.isArray(group)) {
    const [sub, ...subArgs] = more;
    const help = groupUsage(name, group);
    if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
      if (sub || lead.includes('--help') || lead.includes('-h')) throw new HelpRequested(help);
      throw usageError(`${name}: which one? ${group.map((c) => c.name.split(' ')[1]).join(', ')}`, help);
    }
    const found = group.find((c) => c.name === `${name} ${sub}`);
    if (!found) throw usageError(`${name}: unknown subcommand "${sub}"`, help);
    cmd = found;
    args = subArgs;
  } else {
    cmd = group;
    args = more;
  }
  const parsed = parseCommand(cmd, [...lead, ...args]);
  return (await cmd.run(parsed)) ?? ExitCode.ok;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof HelpRequested) {
      process.stdout.write(`${err.usage}\n`);
      process.exitCode = ExitCode.ok;
    } else if (err instanceof CliError) {
      printError(err.message);
      if (err.opts.usage) process.stderr.write(`\n${err.opts.usage}\n`);
      process.exitCode = err.exitCode;
    } else {
      printError(err instanceof Error ? err.message : String(err));
      process.exitCode = ExitCode.failed;
    }
  },
);
