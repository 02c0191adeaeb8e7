import { adminClient, seg } from '../api-client.ts';
import { badArgument, type Command } from '../args.ts';
import { clip, printJson, printTable, say, when } from '../output.ts';

interface ParkedMessage {
  id: string;
  messageId: string | null;
  traceId: string | null;
  reason: string;
  errorCode: string | null;
  routingKey: string | null;
  parkedAt: string | null;
  attempts: number | null;
  body: unknown;
  headers?: Record<string, unknown>;
}

const ID = /^[0-9a-f]{24}$/;
function parkedId(c: Command, id: string | undefined): string {
  if (!id || !ID.test(id))
    throw badArgument(c, `"${id ?? ''}" is not a parked message id (24 hex digits, from \`parking list\`)`);
  return id;
}

const list: Command = {
  name: 'parking list',
  synopsis: '[--json]',
  summary: 'messages in the parking queue, with the reason each was parked',
  async run(p) {
    const r = await adminClient(p).get<{ messages: ParkedMessage[] }>('/admin/api/parking');
    if (p.json) printJson(r);
    else
      printTable(
        ['ID', 'MESSAGE', 'QUEUE', 'PARKED', 'ATTEMPTS', 'CODE', 'REASON'],
        r.messages.map((m) => [
          m.id,
          clip(m.messageId, 40),
          m.routingKey,
          when(m.parkedAt),
          m.attempts,
          m.errorCode,
          clip(m.reason, 80),
        ]),
        '(the parking queue is empty)',
      );
  },
};

const show: Command = {
  name: 'parking show',
  synopsis: '<id> [--json]',
  summary: 'one parked message with its headers and body',
  args: ['id'],
  async run(p) {
    const id = parkedId(this, p.args[0]);
    const m = await adminClient(p).get<ParkedMessage>(`/admin/api/parking/${seg(id)}`);
    if (p.json) {
      printJson(m);
      return;
    }
    for (const [k, v] of [
      ['id', m.id],
      ['message', m.messageId],
      ['trace', m.traceId],
      ['queue', m.routingKey],
      ['parked', when(m.parkedAt)],
      ['attempts', m.attempts],
      ['code', m.errorCode],
      ['reason', m.reason],
    ] as const)
      say(`${k.padEnd(9)}${v ?? '-'}`);
    say(`body     ${JSON.stringify(m.body, null, 2)}`);
  },
};

const replay: Command = {
  name: 'parking replay',
  synopsis: '<id> [--json]',
  summary: 'send a parked message back to the queue it came from, with fresh attempts (operator)',
  args: ['id'],
  async run(p) {
    const id = parkedId(this, p.args[0]);
    const r = await adminClient(p).call<{
      replayed: { id: string; messageId: string | null; queue: string };
    }>('POST', `/admin/api/parking/${seg(id)}/replay`);
    if (p.json) printJson(r);
    else say(`replayed ${r.replayed.id} (message ${r.replayed.messageId ?? '-'}) to ${r.replayed.queue}`);
  },
};

const discard: Command = {
  name: 'parking discard',
  synopsis: '<id> [--json]',
  summary: 'delete a parked message for good; the audit log keeps its body (operator)',
  args: ['id'],
  async run(p) {
    const id = parkedId(this, p.args[0]);
    const r = await adminClient(p).call<{ discarded: { id: string; messageId: string | null } }>(
      'DELETE',
      `/admin/api/parking/${seg(id)}`,
    );
    if (p.json) printJson(r);
    else say(`discarded ${r.discarded.id} (message ${r.discarded.messageId ?? '-'})`);
  },
};

export const parkingCommands: Command[] = [list, show, replay, discard];
