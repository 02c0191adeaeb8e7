import { setTimeout as sleep } from 'node:timers/promises';
import { adminClient } from '../api-client.ts';
import { badArgument, type Command, commandHelp, flagString, parseDurationSeconds } from '../args.ts';
import { CliError, ExitCode } from '../errors.ts';
import { printJson, say, table } from '../output.ts';
import type { QueueFigures } from './status.ts';

interface Overview {
  window: string;
  since?: string;
  platforms: Array<{ platform: string; messages: number; errors: number }>;
  latency: { p50: number | null; p95: number | null; p99: number | null };
  errorRate: number;
  models: Array<{
    model: string;
    calls: number;
    failures: number;
    promptTokens: number;
    completionTokens: number;
  }>;
  queues: QueueFigures[];
}

/** Which service works a queue, from the topology's names (<prefix>.agent.in.N, <prefix>.retry.N …). */
export function queueService(name: string): string {
  if (/\.agent\.in\.\d+$/.test(name)) return 'agent-worker';
  if (/\.retry\.\d+$/.test(name)) return 'retry (delay)';
  if (/\.parking$/.test(name)) return 'parking';
  if (/\.unrouted$/.test(name)) return 'unrouted';
  if (/\.tools?(\.|$)/.test(name)) return 'tool-runner';
  const out = /\.out(?:bound)?\.([a-z]+)/.exec(name);
  if (out) return `ingress-${out[1]}`;
  return '-';
}

const perMinute = (count: number, windowSeconds: number) => (count / (windowSeconds / 60)).toFixed(1);

/** One screen of `top`; `previous` gives each queue's change since the last frame. */
export function renderFrame(o: Overview, windowSeconds: number, previous?: Overview): string {
  const lines: string[] = [];
  const pct = (n: number) => `${(n * 100).toFixed(1)}%`;
  lines.push(
    `switchboard top  ${new Date().toISOString().slice(11, 19)}Z  window ${o.window}  latency p50/p95/p99 ${o.latency.p50 ?? '-'}/${o.latency.p95 ?? '-'}/${o.latency.p99 ?? '-'} ms  errors ${pct(o.errorRate)}`,
    '',
  );
  lines.push(
    o.platforms.length
      ? table(
          ['PLATFORM', 'MSG/MIN', 'MESSAGES', 'ERRORS', 'ERROR %'],
          o.platforms.map((p) => [
            p.platform,
            perMinute(p.messages, windowSeconds),
            p.messages,
            p.errors,
            pct(p.messages ? p.errors / p.messages : 0),
          ]),
        )
      : '(no messages in this window)',
    '',
  );
  const calls = o.models.reduce((n, m) => n + m.calls, 0);
  const failures = o.models.reduce((n, m) => n + m.failures, 0);
  const byService = new Map<string, { queues: number; messages: number; consumers: number; delta: number }>();
  const before = new Map(previous?.queues.map((q) => [q.name, q.messages]));
  for (const q of o.queues) {
    const s = queueService(q.name);
    const e = byService.get(s) ?? { queues: 0, messages: 0, consumers: 0, delta: 0 };
    e.queues++;
    e.messages += q.messages;
    e.consumers += q.consumers;
    e.delta += q.messages - (before.get(q.name) ?? q.messages);
    byService.set(s, e);
  }
  const rows = [...byService.entries()].map(([s, e]) => [
    s,
    s === 'agent-worker' ? perMinute(calls, windowSeconds) : '',
    s === 'agent-worker' ? failures : '',
    e.queues,
    e.messages,
    e.delta > 0 ? `+${e.delta}` : e.delta,
    e.consumers,
  ]);
  lines.push(
    rows.length
      ? table(['SERVICE', 'ANSWERS/MIN', 'FAILED', 'QUEUES', 'QUEUED', 'Δ', 'CONSUMERS'], rows)
      : '(no queues)',
    '',
  );
  if (o.models.length)
    lines.push(
      table(
        ['MODEL', 'CALLS/MIN', 'CALLS', 'FAILURES', 'PROMPT TOK', 'COMPLETION TOK'],
        o.models.map((m) => [
          m.model,
          perMinute(m.calls, windowSeconds),
          m.calls,
          m.failures,
          m.promptTokens,
          m.completionTokens,
        ]),
      ),
    );
  return lines.join('\n');
}

export const topCommand: Command = {
  name: 'top',
  synopsis: '[--interval S] [--window D] [--once] [--json]',
  summary: 'live rates per platform, service and model, redrawn every few seconds',
  details: `  --interval S  seconds between frames (default 2)
  --window D    the span the rates are averaged over: 1m, 5m, 1h … (default 5m)
  --once        print one frame and exit (for scripts); with --json the overview as JSON
  --json        without --once: one JSON object per frame, one per line
Ctrl-C stops it. Rates are messages (answers, model calls) per minute over the window; Δ is the
change of a service's queued messages since the previous frame.`,
  options: {
    interval: { type: 'string' },
    window: { type: 'string' },
    once: { type: 'boolean' },
  },
  async run(p) {
    const interval = Number(flagString(p, 'interval') ?? '2');
    if (!(interval >= 0.5 && interval <= 3600))
      throw badArgument(this, '--interval: seconds from 0.5 to 3600');
    const window = flagString(p, 'window') ?? '5m';
    const windowSeconds = parseDurationSeconds(window, '--window', commandHelp(this));
    if (windowSeconds < 60) throw badArgument(this, '--window: at least 1m');
    const api = adminClient(p);
    const path = `/admin/api/overview?window=${encodeURIComponent(window)}`;
    if (p.flags.once === true) {
      const o = await api.get<Overview>(path);
      if (p.json) printJson(o);
      else say(renderFrame(o, windowSeconds));
      return ExitCode.ok;
    }
    let stop = false;
    const ctl = new AbortController();
    process.once('SIGINT', () => {
      stop = true;
      ctl.abort();
    });
    const tty = process.stdout.isTTY === true;
    let previous: Overview | undefined;
    while (!stop) {
      try {
        const o = await api.get<Overview>(path);
        if (p.json) process.stdout.write(`${JSON.stringify(o)}\n`);
        else
          process.stdout.write(`${tty ? '\x1b[2J\x1b[H' : ''}${renderFrame(o, windowSeconds, previous)}\n`);
        previous = o;
      } catch (err) {
        // A refused token or a bad flag will not get better; an unreachable admin may come back.
        if (!(err instanceof CliError) || err.exitCode !== ExitCode.unreachable) throw err;
        process.stderr.write(`switchboard: ${err.message}; retrying\n`);
      }
      await sleep(interval * 1000, undefined, { signal: ctl.signal }).catch(() => {});
    }
    return ExitCode.ok;
  },
};
