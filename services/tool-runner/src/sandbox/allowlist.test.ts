import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCommand, parseShellAllowlist } from './allowlist.ts';
import { SHELL_CATALOGUE } from './catalogue.ts';
import { checkAndConfine } from './check.ts';
import { sandboxIdentity } from './identity.ts';

const all = parseShellAllowlist(Object.keys(SHELL_CATALOGUE).join(','));
const ok = (program: string, args: string[]) => checkCommand(all, program, args).ok;

describe('SHELL_ALLOWLIST', () => {
  it('takes catalogue names and gives each its rules', () => {
    const allowed = parseShellAllowlist(' df, uptime,grep,df');
    expect(allowed.map((p) => p.name)).toEqual(['df', 'uptime', 'grep']);
    expect(allowed[2]!.rules).toBe(SHELL_CATALOGUE.grep);
  });

  it.each([
    ['bash', /"bash" is not in the shell catalogue/],
    ['sort2', /not in the shell catalogue/],
    ['env', /not in the shell catalogue/],
    ['chrt', /not in the shell catalogue/],
    ['split', /not in the shell catalogue/],
    ['find', /not in the shell catalogue/],
    ['constructor', /not in the shell catalogue/],
    ['systemctl status', /entries are program names only/],
    ['/opt/checks/disk.sh', /not by path/],
  ])('refuses %s at start', (entry, message) => {
    expect(() => parseShellAllowlist(`df,${entry}`)).toThrow(message);
  });

  it('ships no program that starts others', () => {
    for (const name of ['sh', 'bash', 'env', 'nice', 'chrt', 'xargs', 'find', 'tar', 'split', 'awk', 'sed']) {
      expect(Object.hasOwn(SHELL_CATALOGUE, name), name).toBe(false);
    }
  });
});

describe('the catalogue rules, read as getopt reads them', () => {
  it('allows listed options, short clusters, attached and separate values, long =values', () => {
    expect(ok('df', ['-hT'])).toBe(true);
    expect(ok('df', ['-h', '-T', '--total'])).toBe(true);
    expect(ok('head', ['-n', '5', 'a.txt'])).toBe(true);
    expect(ok('head', ['-n5', 'a.txt'])).toBe(true);
    expect(ok('head', ['-qn5', 'a.txt'])).toBe(true);
    expect(ok('head', ['--lines=5', 'a.txt'])).toBe(true);
    expect(ok('head', ['--lines', '-5', 'a.txt'])).toBe(true);
    expect(ok('tail', ['-n', '+5', 'a.txt'])).toBe(true);
    expect(ok('grep', ['-rn', 'needle'])).toBe(true);
    expect(ok('grep', ['-e', '-starts-with-dash', 'a.txt'])).toBe(true);
    expect(ok('systemctl', ['status', 'nginx.service', '--no-pager'])).toBe(true);
    expect(ok('date', ['+%Y-%m-%d'])).toBe(true);
    expect(ok('date', ['-d', 'yesterday 10:00', '-u'])).toBe(true);
    expect(ok('echo', ['-rf', '--compress-program=sh', '$(id)'])).toBe(true);
    expect(ok('uname', ['-a'])).toBe(true);
  });

  it.each([
    ['sort', ['--compress-program=sh', 'a.txt'], /option --compress-program is not allowed/],
    ['sort', ['--compress-prog=sh', 'a.txt'], /option --compress-prog is not allowed/],
    ['sort', ['-o', 'out', 'a.txt'], /option -o is not allowed/],
    ['sort', ['-nro', 'out', 'a.txt'], /option -o is not allowed/],
    ['sort', ['a.txt', '--compress-program', 'sh'], /option --compress-program is not allowed/],
    ['tail', ['-f', 'a.txt'], /option -f is not allowed/],
    ['grep', ['-R', 'x'], /option -R is not allowed/],
    ['ls', ['-L'], /option -L is not allowed/],
    ['du', ['--files0-from=list'], /option --files0-from is not allowed/],
    ['df', ['-hZ'], /option -Z is not allowed/],
    ['uname', ['--all=x'], /takes no value/],
    ['head', ['-n'], /needs a value/],
    ['head', ['-n', 'x', 'a.txt'], /option -n needs N, not "x"/],
    ['head', ['a.txt', '-5'], /option -5 is not allowed/],
    ['date', ['0101000070'], /is not \+FORMAT/],
    ['date', ['-s', 'now'], /option -s is not allowed/],
    ['date', ['-d', 'TZ="/etc/shadow" now'], /option -d needs DATE/],
    ['uptime', ['x'], /takes no operands/],
    ['uniq', ['in.txt', 'out.txt'], /at most 1 operand/],
    ['cat', [], /at least 1 operand/],
    ['systemctl', ['stop', 'nginx'], /"stop" is not status\|is-active/],
    ['systemctl', ['-H', 'host', 'status'], /option -H is not allowed/],
    ['systemctl', ['status', 'ngi*'], /is not UNIT/],
    ['grep', [], /TEXT is missing/],
  ])('refuses %s %j with the reason and the allowed form', (program, args, reason) => {
    const r = checkCommand(all, program, args);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toMatch(reason);
      expect(r.reason).toContain(`allowed: ${program}`);
    }
  });

  it('takes arguments after -- as operands, never as options', () => {
    const r = checkCommand(all, 'cat', ['--', '-n', '--compress-program=sh']);
    expect(r).toMatchObject({ ok: true });
    if (r.ok) expect(r.paths.map((p) => p.value)).toEqual(['-n', '--compress-program=sh']);
  });

  it('finds every path: operands, separate, attached and = values', () => {
    const r = checkCommand(all, 'grep', ['-f', 'p1', '-fp2', '--file=p3', '--file', 'p4', 'f1', 'f2']);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.paths).toEqual([
        { index: 1, prefix: '', value: 'p1' },
        { index: 2, prefix: '-f', value: 'p2' },
        { index: 3, prefix: '--file=', value: 'p3' },
        { index: 5, prefix: '', value: 'p4' },
        { index: 6, prefix: '', value: 'f1' },
        { index: 7, prefix: '', value: 'f2' },
      ]);
    }
  });

  it('refuses names, paths to programs, NUL and oversized input', () => {
    for (const p of ['/usr/bin/df', './df', 'bin/df', 'rm', 'bash']) {
      expect(checkCommand(all, p, []), p).toMatchObject({
        ok: false,
        reason: expect.stringMatching(/not on the allowlist/),
      });
    }
    expect(checkCommand(all, 'df', ['a\0b'])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/NUL/),
    });
    expect(checkCommand(all, 'df', Array(65).fill('-h'))).toMatchObject({ ok: false });
    expect(checkCommand(all, 'df', ['x'.repeat(4097)])).toMatchObject({ ok: false });
  });
});

describe('paths confined to the workspace', () => {
  let ws: string;
  let outside: string;
  beforeAll(async () => {
    ws = await realpath(await mkdtemp(join(tmpdir(), 'sb-al-ws-')));
    outside = await realpath(await mkdtemp(join(tmpdir(), 'sb-al-out-')));
    await writeFile(join(ws, 'notes.txt'), 'x');
    await writeFile(join(ws, '-n'), 'x');
    await mkdir(join(ws, 'sub'));
    await symlink(outside, join(ws, 'escape'));
    await symlink('../notes.txt', join(ws, 'sub', 'inner'));
    await symlink('/proc/self/environ', join(ws, 'env-link'));
  });
  afterAll(async () => {
    await rm(ws, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('passes the resolved path, relative to the workspace', async () => {
    expect(
      await checkAndConfine(all, ws, 'cat', ['sub/inner', join(ws, 'notes.txt'), 'sub/../notes.txt']),
    ).toEqual({
      ok: true,
      args: ['notes.txt', 'notes.txt', 'notes.txt'],
    });
    expect(await checkAndConfine(all, ws, 'cat', ['--', '-n'])).toEqual({ ok: true, args: ['--', './-n'] });
    expect(await checkAndConfine(all, ws, 'ls', ['sub/missing'])).toEqual({
      ok: true,
      args: ['sub/missing'],
    });
    expect(await checkAndConfine(all, ws, 'grep', ['--file=sub/inner', '.'])).toEqual({
      ok: true,
      args: ['--file=notes.txt', '.'],
    });
  });

  it.each([
    [['/etc/passwd'], /outside the workspace/],
    [['../x'], /outside the workspace/],
    [['/proc/self/environ'], /outside the workspace/],
    [['escape/x'], /leads out of the workspace through a symbolic link/],
    [['escape'], /leads out of the workspace/],
    [['env-link'], /leads out of the workspace/],
  ])('refuses %j', async (args, reason) => {
    expect(await checkAndConfine(all, ws, 'cat', args)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(reason),
    });
  });
});

describe('the sandbox user in process mode', () => {
  it('is the configured one under a root runner, and never root', () => {
    expect(sandboxIdentity({ uid: 65534, gid: 65534 }, 0)).toEqual({ ok: true, uid: 65534, gid: 65534 });
    expect(sandboxIdentity({ uid: 0, gid: 65534 }, 0)).toMatchObject({ ok: false });
  });

  it('does not exist under a runner that cannot switch users: the shell tool is off', () => {
    expect(sandboxIdentity({ uid: 65534, gid: 65534 }, 1000)).toEqual({
      ok: false,
      reason: expect.stringMatching(
        /^the shell tool is off: in process mode its sandbox must run as a user of its own/,
      ),
    });
  });
});
