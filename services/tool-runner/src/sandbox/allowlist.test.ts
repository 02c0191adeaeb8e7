import { describe, expect, it } from 'vitest';
import { checkCommand, parseShellAllowlist } from './allowlist.ts';

describe('the shell allowlist', () => {
  const allowed = parseShellAllowlist(
    'df, uptime,systemctl status,journalctl --no-pager -u,/opt/checks/disk.sh',
  );

  it('parses program names, fixed leading arguments and absolute paths', () => {
    expect(allowed).toEqual([
      { program: 'df', prefix: [] },
      { program: 'uptime', prefix: [] },
      { program: 'systemctl', prefix: ['status'] },
      { program: 'journalctl', prefix: ['--no-pager', '-u'] },
      { program: '/opt/checks/disk.sh', prefix: [] },
    ]);
  });

  it('allows listed programs with any further arguments', () => {
    expect(checkCommand(allowed, 'df', ['-h', '/'])).toEqual({ ok: true });
    expect(checkCommand(allowed, 'systemctl', ['status', 'nginx'])).toEqual({ ok: true });
    expect(checkCommand(allowed, '/opt/checks/disk.sh', [])).toEqual({ ok: true });
  });

  it('holds programs with a fixed prefix to it', () => {
    expect(checkCommand(allowed, 'systemctl', ['stop', 'nginx'])).toEqual({
      ok: false,
      reason: 'systemctl is allowed only as: systemctl status …',
    });
    expect(checkCommand(allowed, 'journalctl', ['-u', 'x'])).toMatchObject({ ok: false });
  });

  it('takes a slash as a path: only the exact allowlisted path runs', () => {
    for (const p of ['/usr/bin/df', './df', 'bin/df', '/opt/checks/../checks/disk.sh', 'disk.sh']) {
      expect(checkCommand(allowed, p, []), p).toMatchObject({ ok: false });
    }
  });

  it('refuses NUL bytes, too many and too long arguments', () => {
    expect(checkCommand(allowed, 'df', ['a\0b'])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/NUL/),
    });
    expect(checkCommand(allowed, 'df\0', [])).toMatchObject({ ok: false });
    expect(checkCommand(allowed, 'df', Array(65).fill('x'))).toMatchObject({ ok: false });
    expect(checkCommand(allowed, 'df', ['x'.repeat(4097)])).toMatchObject({ ok: false });
  });

  it.each([
    'bash',
    'sh',
    'env',
    'find',
    'python3',
    'perl5.36',
    'awk',
    'sed',
    'xargs',
    'sudo',
    'curl',
    '/usr/bin/env',
    'ssh',
    'tar',
    'git',
  ])('cannot allowlist %s, which runs whatever its arguments say', (program) => {
    expect(() => parseShellAllowlist(`df,${program}`)).toThrow(/cannot be allowlisted/);
  });

  it.each(['rm;', '../bin/ls', '/opt/../bin/sh', 'ls$(id)', '-rf'])(
    'refuses the malformed entry %s',
    (entry) => {
      expect(() => parseShellAllowlist(entry)).toThrow();
    },
  );
});
