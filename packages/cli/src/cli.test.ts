import { describe, expect, it } from 'vitest';
import { type Command, HelpRequested, parseCommand } from './args.ts';
import { queueService, renderFrame } from './commands/top.ts';
import { CliError, ExitCode, exitCodeForStatus, networkErrorCode } from './errors.ts';
import { table, when } from './output.ts';

const cmd: Command = {
  name: 'parking replay',
  synopsis: '<id>',
  summary: 'replay',
  args: ['id'],
  options: { block: { type: 'string' } },
  run: async () => undefined,
};

describe('argument parsing', () => {
  it('takes global flags anywhere and the positional arguments in order', () => {
    const p = parseCommand(cmd, ['--json', 'abc', '--token', 't', '--block=1h']);
    expect(p).toEqual({ flags: { json: true, token: 't', block: '1h' }, args: ['abc'], json: true });
  });

  it('refuses unknown flags, missing and extra arguments as usage errors (exit 2) with the help', () => {
    for (const argv of [['abc', '--nope'], [], ['a', 'b']]) {
      let err: unknown;
      try {
        parseCommand(cmd, argv);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(ExitCode.usage);
      expect((err as CliError).opts.usage).toContain('usage: switchboard parking replay <id>');
    }
    expect(() => parseCommand(cmd, ['--help'])).toThrow(HelpRequested);
  });
});

describe('exit statuses', () => {
  it('maps HTTP statuses and network failures to stable codes', () => {
    expect([401, 403, 404, 400, 409, 500, 503].map(exitCodeForStatus)).toEqual([4, 4, 3, 2, 1, 1, 5]);
    expect(networkErrorCode(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(
      networkErrorCode(new Error('fetch failed', { cause: new AggregateError([{ code: 'EHOSTUNREACH' }]) })),
    ).toBe('EHOSTUNREACH');
    expect(networkErrorCode(new Error('other'))).toBeUndefined();
  });
});

describe('output', () => {
  it('aligns columns and shows empty cells as -', () => {
    expect(
      table(
        ['A', 'LONGER'],
        [
          ['x', null],
          ['yyyy', 2],
        ],
      ),
    ).toBe('A     LONGER\nx     -\nyyyy  2');
    expect(when('2026-11-23T11:15:34.123Z')).toBe('2026-11-23 11:15:34Z');
    expect(when(null)).toBe('-');
  });

  it('names the service behind each queue and computes rates over the window', () => {
    expect(['sb.agent.in.3', 'sb.retry.0', 'sb.parking', 'sb.out.telegram.bot1'].map(queueService)).toEqual([
      'agent-worker',
      'retry (delay)',
      'parking',
      'ingress-telegram',
    ]);
    const frame = renderFrame(
      {
        window: '5m',
        platforms: [{ platform: 'web', messages: 10, errors: 1 }],
        latency: { p50: 100, p95: 200, p99: 300 },
        errorRate: 0.1,
        models: [{ model: 'm', calls: 10, failures: 1, promptTokens: 5, completionTokens: 6 }],
        queues: [{ name: 'sb.agent.in.0', messages: 3, ready: 3, unacked: 0, consumers: 1 }],
      },
      300,
      {
        window: '5m',
        platforms: [],
        latency: { p50: null, p95: null, p99: null },
        errorRate: 0,
        models: [],
        queues: [{ name: 'sb.agent.in.0', messages: 1, ready: 1, unacked: 0, consumers: 1 }],
      },
    );
    expect(frame).toMatch(/^web\s+2\.0\s+10\s+1\s+10\.0%$/m);
    expect(frame).toMatch(/^agent-worker\s+2\.0\s+1\s+1\s+3\s+\+2\s+1$/m);
    expect(frame).toContain('p50/p95/p99 100/200/300 ms');
  });
});
