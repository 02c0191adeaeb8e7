/**
 * Item 10.6: an unhandled rejection or an uncaught exception anywhere in a service is logged as one
 * ECS error line and stops the process the way SIGTERM does (its stop steps run), with exit code 1
 * — not a silent death, and not a process that keeps serving in a state nobody reasoned about.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lib/spawn-service.ts';

interface EcsLine {
  'log.level'?: string;
  message?: string;
  error?: { code?: string; message?: string; stack_trace?: string };
}

async function runChild(crash: 'rejection' | 'exception') {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/hostile/crash-child.ts')], {
    cwd: ROOT,
    env: { ...process.env, CRASH: crash },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const lines = out.split('\n').filter(Boolean);
  const json = lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as EcsLine];
    } catch {
      return [];
    }
  });
  return { code, lines, json };
}

describe('a crash stops the service cleanly and says why', () => {
  it.each([
    ['rejection', 'unhandled rejection', 'nobody awaited this promise'],
    ['exception', 'uncaught exception', 'thrown from a timer'],
  ] as const)('an unhandled %s: logged, stop steps run, exit code 1', async (crash, kind, message) => {
    const { code, lines, json } = await runChild(crash);
    expect(code, lines.join('\n')).toBe(1);
    const crashLine = json.find((l) => l['log.level'] === 'error' && String(l.message).includes(kind));
    expect(crashLine, lines.join('\n')).toBeDefined();
    expect(crashLine?.message).toContain(message);
    expect(crashLine?.error).toMatchObject({
      code: 'SB_ERR_PROCESS_CRASHED',
      message: expect.stringContaining(message),
    });
    expect(crashLine?.error?.stack_trace).toContain('crash-child.ts');
    // The same stop path as SIGTERM, in order: the crash line, the stop step, then the exit.
    const at = (pred: (l: string) => boolean) => lines.findIndex(pred);
    const crashAt = at((l) => l.includes(kind));
    const stepAt = at((l) => l === 'stop step ran');
    const doneAt = at((l) => l.includes('shutdown complete'));
    expect(stepAt, lines.join('\n')).toBeGreaterThan(crashAt);
    expect(doneAt).toBeGreaterThan(stepAt);
    expect(lines.filter((l) => l === 'stop step ran')).toHaveLength(1);
  });
});
