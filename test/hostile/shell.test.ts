import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lib/spawn-service.ts';
import { loadSandboxConfig } from '../../services/tool-runner/src/sandbox/config.ts';
import { sandboxCall } from '../../services/tool-runner/src/sandbox/protocol.ts';
import { childrenOf, conversationDir, SANDBOX_UID, startToolBed, type ToolBed } from '../tools/harness.ts';

/**
 * The shell tool against a chat user who wants to run something else (issue 11, item 6): programs
 * that run programs (`sort --compress-program`, `split --filter`, `chrt … sh -c`), options of an
 * allowed program that write or follow links, paths outside the workspace, /proc, and the
 * tool-runner's own environment. Every attempt goes through the real tool-runner and its real
 * sandbox process, and again straight to the sandbox's socket (it trusts no caller); each must be
 * refused with the reason, and the marker the command would have created must not exist.
 */
describe('hostile shell calls', () => {
  let bed: ToolBed;
  /** Outside the workspace, writable by the sandbox's user: a command that ran could leave a mark. */
  let outside: string;
  let socket: string;
  let runnerPid: number;
  let sandboxPid: number;

  beforeAll(async () => {
    bed = await startToolBed({
      TOOLS_ENABLED: 'shell',
      SHELL_ALLOWLIST: 'cat,ls,sort,grep,head,id,sleep',
      SHELL_TIMEOUT_MS: '5000',
    });
    outside = await realpath(await mkdtemp(join(tmpdir(), 'sb-shell-out-')));
    await chown(outside, SANDBOX_UID, SANDBOX_UID);
    await writeFile(join(outside, 'secret.txt'), 'needle-from-outside\n');
    // What sort would run as its compressor: it leaves a mark and passes the data through.
    await writeFile(join(outside, 'evil.sh'), `#!/bin/sh\ntouch ${outside}/marker-sort\nexec cat\n`);
    await chmod(join(outside, 'evil.sh'), 0o755);
    runnerPid = bed.runner.proc.pid!;
    // Tool calls run in the caller's own folder; requests sent straight to the sandbox's socket
    // name none and run in the workspace root. The same planted files wait in both.
    const c = bed.request('shell', {}).caller;
    const home = conversationDir(bed.workspace, c.platform, c.botId, c.conversationId);
    await mkdir(home, { recursive: true, mode: 0o750 });
    for (const dir of [bed.workspace, home]) {
      await writeFile(join(dir, 'notes.txt'), 'inside\nneedle-inside\n');
      await writeFile(join(dir, 'big.txt'), `${Array.from({ length: 20_000 }, (_, i) => i).join('\n')}\n`);
      await symlink(outside, join(dir, 'escape'));
      await symlink(join(outside, 'secret.txt'), join(dir, 'secret-link'));
      await symlink(`/proc/${runnerPid}/environ`, join(dir, 'runner-env'));
    }
    const line = bed.logLines().find((l) => l.message === 'shell sandbox listening');
    socket = String((line?.labels as { socket?: string } | undefined)?.socket);
    const sandboxes = [];
    for (const pid of await childrenOf(runnerPid)) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes('sandbox/main.ts')) sandboxes.push(pid);
    }
    expect(sandboxes).toHaveLength(1);
    sandboxPid = sandboxes[0]!;
  });

  afterAll(async () => {
    await bed?.stop();
    if (outside) await rm(outside, { recursive: true, force: true });
  });

  const marks = async () => (await readdir(outside)).filter((f) => f.startsWith('marker')).sort();
  const workspaceEntries = async () => (await readdir(bed.workspace)).sort();

  /** The call through the tool, then the same straight to the sandbox: both refused, no mark. */
  async function expectRefused(command: string, args: string[], reason: RegExp): Promise<void> {
    const before = await workspaceEntries();
    const viaTool = await bed.call('shell', { command, args });
    expect(viaTool.error?.code, `${command} ${args.join(' ')}`).toBe('TOOL_REFUSED');
    expect(viaTool.output).toMatch(reason);
    expect(viaTool.output).not.toMatch(/needle-from-outside|DATABASE_URL|AMQP_URL/);
    const direct = await sandboxCall(socket, {
      op: 'run',
      id: 'direct',
      program: command,
      args,
      timeoutMs: 3000,
    });
    expect(direct.status, `${command} ${args.join(' ')} straight to the sandbox`).toBe('refused');
    expect(direct.status === 'refused' && direct.message).toMatch(reason);
    expect(await marks()).toEqual([]);
    expect(await workspaceEntries()).toEqual(before);
  }

  it('the attack is real: run as the sandbox user, sort --compress-program leaves its mark', () => {
    const r = spawnSync(
      '/usr/bin/sort',
      [`--compress-program=${outside}/evil.sh`, '-S', '64K', '-T', outside, join(bed.workspace, 'big.txt')],
      { uid: SANDBOX_UID, gid: SANDBOX_UID, stdio: 'ignore', env: { PATH: '/usr/bin:/bin' } },
    );
    expect(r.status).toBe(0);
    expect(existsSync(join(outside, 'marker-sort'))).toBe(true);
    spawnSync('rm', ['-f', join(outside, 'marker-sort')]);
  });

  it('refuses options that make an allowed program run another', async () => {
    const evil = `${outside}/evil.sh`;
    await expectRefused(
      'sort',
      [`--compress-program=${evil}`, '-S', '64K', '-T', outside, 'big.txt'],
      /^sort: option --compress-program is not allowed; allowed: sort \[-b -f/,
    );
    // getopt would expand an abbreviation; the catalogue matches options exactly.
    await expectRefused(
      'sort',
      [`--compress-prog=${evil}`, 'big.txt'],
      /option --compress-prog is not allowed/,
    );
    // Options after the operands are still options (GNU getopt permutes).
    await expectRefused('sort', ['big.txt', '--compress-program', evil], /option --compress-program is not/);
  });

  it('refuses programs that run programs: none is in the catalogue', async () => {
    const m = (name: string) => `${outside}/marker-${name}`;
    const attempts: Array<[string, string[]]> = [
      ['split', [`--filter=touch ${m('split')}`, 'notes.txt']],
      ['chrt', ['-o', '0', 'sh', '-c', `touch ${m('chrt')}`]],
      ['nice', ['sh', '-c', `touch ${m('nice')}`]],
      ['env', ['sh', '-c', `touch ${m('env')}`]],
      ['find', ['.', '-exec', 'touch', m('find'), ';']],
      ['tar', [`--to-command=touch ${m('tar')}`, '-xf', 'x.tar']],
      ['sh', ['-c', `touch ${m('sh')}`]],
      ['frobnicate', []],
    ];
    for (const [program, args] of attempts) {
      await expectRefused(
        program,
        args,
        new RegExp(
          `^"${program}" is not on the allowlist; allowed commands: cat, ls, sort, grep, head, id, sleep$`,
        ),
      );
    }
  });

  it('refuses an allowed program with an option it may not take, and says what it may', async () => {
    await expectRefused(
      'sort',
      ['-o', `${outside}/marker-written`, 'notes.txt'],
      /^sort: option -o is not allowed/,
    );
    await expectRefused(
      'sort',
      ['-ro', `${outside}/marker-written`, 'notes.txt'],
      /^sort: option -o is not allowed/,
    );
    await expectRefused('ls', ['-L', 'escape'], /^ls: option -L is not allowed; allowed: ls \[-1 -a/);
    await expectRefused('grep', ['-R', 'needle', '.'], /^grep: option -R is not allowed/);
    await expectRefused('head', ['-5', 'notes.txt'], /^head: option -5 is not allowed; allowed: head \[-n N/);
  });

  it('refuses paths outside the workspace, /proc and symbolic links that lead out', async () => {
    await expectRefused('cat', [`${outside}/secret.txt`], /is outside the workspace/);
    await expectRefused('cat', ['../../etc/passwd'], /"..\/..\/etc\/passwd" is outside the workspace/);
    await expectRefused('cat', ['/proc/self/environ'], /"\/proc\/self\/environ" is outside the workspace/);
    await expectRefused('cat', [`/proc/${runnerPid}/environ`], /is outside the workspace/);
    await expectRefused('cat', [`/proc/${sandboxPid}/environ`], /is outside the workspace/);
    await expectRefused(
      'cat',
      ['secret-link'],
      /"secret-link" leads out of the workspace through a symbolic link/,
    );
    await expectRefused('cat', ['escape/secret.txt'], /leads out of the workspace/);
    await expectRefused('cat', ['runner-env'], /"runner-env" leads out of the workspace/);
    await expectRefused('grep', ['-f', 'secret-link', 'notes.txt'], /"secret-link" leads out/);
    await expectRefused('grep', ['--file=escape/secret.txt', 'notes.txt'], /leads out/);
    await expectRefused('cat', ['--', `${outside}/secret.txt`], /is outside the workspace/);
  });

  it('recursion stays inside: grep -r skips the link that leads out', async () => {
    const r = await bed.call('shell', { command: 'grep', args: ['-r', 'needle', '.'] });
    expect(r.output).toContain('needle-inside');
    expect(r.output).not.toContain('needle-from-outside');
  });

  it('runs the sandbox as a user of its own, which cannot read the runner', async () => {
    const status = await readFile(`/proc/${sandboxPid}/status`, 'utf8');
    const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1]?.split(/\s+/);
    expect(field('Uid')).toEqual(Array(4).fill(String(SANDBOX_UID)));
    expect(field('Gid')).toEqual(Array(4).fill(String(SANDBOX_UID)));
    expect(field('Groups')).toEqual(['']);
    expect(process.getuid?.()).toBe(0);
    expect((await readFile(`/proc/${runnerPid}/status`, 'utf8')).match(/^Uid:\s*(\d+)/m)?.[1]).toBe('0');

    const id = await bed.call('shell', { command: 'id', args: ['-u'] });
    expect(id.output).toBe(`$ id -u\nexit code 0\n${SANDBOX_UID}\n`);

    // Even past the catalogue, the kernel keeps the sandbox's user out of the runner's environ.
    const direct = spawnSync('/usr/bin/cat', [`/proc/${runnerPid}/environ`], {
      uid: SANDBOX_UID,
      gid: SANDBOX_UID,
      encoding: 'utf8',
    });
    expect(direct.status).not.toBe(0);
    expect(direct.stderr).toMatch(/Permission denied/);
    expect(direct.stdout).toBe('');
  });

  it('refuses at start a SHELL_ALLOWLIST naming a program outside the catalogue', () => {
    for (const name of ['split', 'chrt', 'nice', 'env', 'find', 'tar', 'xargs', 'sh']) {
      expect(() => loadSandboxConfig({ SHELL_ALLOWLIST: `cat,${name}` }), name).toThrow(
        new RegExp(`SHELL_ALLOWLIST: "${name}" is not in the shell catalogue`),
      );
    }
    expect(() => loadSandboxConfig({ SHELL_ALLOWLIST: 'systemctl status' })).toThrow(/program names only/);
  });

  /** The sandbox entry point as a process of its own; resolves with its exit code and output. */
  function runSandbox(
    env: Record<string, string>,
    asUid?: number,
  ): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', 'services/tool-runner/src/sandbox/main.ts'], {
        cwd: ROOT,
        env: {
          PATH: '/usr/bin:/bin',
          WORKSPACE_DIR: bed.workspace,
          SANDBOX_SOCKET: join(outside, 'x.sock'),
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(asUid !== undefined ? { uid: asUid, gid: asUid } : {}),
      });
      let out = '';
      proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
      proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
      // Its log lines are JSON: the messages, for matching.
      proc.on('exit', (code) =>
        resolve({
          code,
          out: out
            .split('\n')
            .filter(Boolean)
            .map((l) => String((JSON.parse(l) as { message?: string }).message))
            .join('\n'),
        }),
      );
    });
  }

  it('the real sandbox process will not start with such a list, as root, or as the runner', async () => {
    const split = await runSandbox({ SHELL_ALLOWLIST: 'cat,split' }, SANDBOX_UID);
    expect(split.code).not.toBe(0);
    expect(split.out).toMatch(/"split" is not in the shell catalogue/);
    const root = await runSandbox({ SHELL_ALLOWLIST: 'cat' });
    expect(root.code).not.toBe(0);
    expect(root.out).toMatch(/the shell sandbox must not run as root/);
    const same = await runSandbox(
      { SHELL_ALLOWLIST: 'cat', SANDBOX_RUNNER_UID: String(SANDBOX_UID) },
      SANDBOX_UID,
    );
    expect(same.code).not.toBe(0);
    expect(same.out).toMatch(/must not run as the tool-runner's user/);
    expect(existsSync(join(outside, 'x.sock'))).toBe(false);
  });
});
