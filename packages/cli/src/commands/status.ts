import { adminClient } from '../api-client.ts';
import type { Command } from '../args.ts';
import { ExitCode } from '../errors.ts';
import { clip, printError, printJson, printTable, say } from '../output.ts';

export interface QueueFigures {
  name: string;
  messages: number;
  ready: number;
  unacked: number | null;
  consumers: number;
}

interface ServiceState {
  name: string;
  url: string;
  ready: boolean;
  detail: unknown;
}

interface StatusReply {
  services: ServiceState[];
  queues: QueueFigures[];
  queueSource?: string;
  queueError?: string;
}

/** Why a service is not ready, in a few words: its failing checks, or the probe's error. */
function why(s: ServiceState): string {
  const d = s.detail;
  if (typeof d === 'string') return d;
  const checks = (d as { checks?: Record<string, unknown> } | null)?.checks;
  if (checks && typeof checks === 'object') {
    const bad = Object.entries(checks).filter(([, v]) => v !== 'ok');
    if (bad.length)
      return bad.map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('; ');
  }
  return s.ready ? '' : JSON.stringify(d ?? null);
}

export function printQueues(queues: QueueFigures[]): void {
  printTable(
    ['QUEUE', 'MESSAGES', 'READY', 'UNACKED', 'CONSUMERS'],
    queues.map((q) => [q.name, q.messages, q.ready, q.unacked ?? '?', q.consumers]),
    '(no queues)',
  );
}

export const statusCommand: Command = {
  name: 'status',
  synopsis: '[--json]',
  summary: 'services (ready or not) and queue depths; exits 1 when a service is not ready',
  details: `Probes every service the admin service knows (its ADMIN_SERVICES) on /readyz and reads the
queue depths from RabbitMQ. Exit status 1 when any service is not ready, 0 otherwise.`,
  async run(p) {
    const s = await adminClient(p).get<StatusReply>('/admin/api/status');
    const down = s.services.filter((x) => !x.ready);
    if (p.json) printJson(s);
    else {
      printTable(
        ['SERVICE', 'STATE', 'URL', 'DETAIL'],
        s.services.map((x) => [x.name, x.ready ? 'ready' : 'NOT READY', x.url, clip(why(x), 80)]),
        '(no services configured: set ADMIN_SERVICES on the admin service)',
      );
      say();
      printQueues(s.queues);
      if (s.queueError) say(`(queue figures from AMQP: ${s.queueError})`);
      say();
      say(`${s.services.length - down.length} of ${s.services.length} services ready`);
    }
    if (down.length) {
      printError(`${down.length} not ready: ${down.map((x) => x.name).join(', ')}`);
      return ExitCode.failed;
    }
    return ExitCode.ok;
  },
};
