import { type AllowedProgram, checkCommand } from './allowlist.ts';
import { confinePaths } from './paths.ts';

export type CheckedCommand = { ok: true; args: string[] } | { ok: false; reason: string };

/**
 * The whole check, the same code in the tool-runner (to refuse early) and in the sandbox (which
 * trusts nobody): the catalogue's rules for the program, then every path confined to the
 * workspace. `args` is what runs: the caller's, with each path replaced by its resolved form.
 */
export async function checkAndConfine(
  allowed: AllowedProgram[],
  workspace: string,
  program: string,
  args: string[],
): Promise<CheckedCommand> {
  const check = checkCommand(allowed, program, args);
  if (!check.ok) return check;
  const confined = await confinePaths(workspace, args, check.paths);
  if (!confined.ok) return { ok: false, reason: `${program}: ${confined.reason}` };
  return confined;
}
