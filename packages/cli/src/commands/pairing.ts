import { adminClient, seg } from '../api-client.ts';
import { badArgument, type Command, commandHelp, flagString, parseDurationSeconds } from '../args.ts';
import { printJson, printTable, say, when } from '../output.ts';

interface PairingRequest {
  id: string;
  platform: string;
  botId: string;
  externalId: string;
  userName: string | null;
  conversationId: string;
  status: string;
  attempts: number;
  expiresAt: string;
  createdAt: string;
  decidedBy: string | null;
}

interface PairingReply {
  pending: PairingRequest[];
  blocklist: Array<{ id: string; platform: string; externalId: string; until: string; reason: string }>;
  paired?: Array<{ platform: string; externalId: string; pairedAt: string; approvedBy: string }>;
}

function requestId(c: Command, id: string | undefined): string {
  if (!id || !/^\d{1,18}$/.test(id))
    throw badArgument(c, `"${id ?? ''}" is not a pairing request number (from \`pairing list\`)`);
  return id;
}

const list: Command = {
  name: 'pairing list',
  synopsis: '[--json]',
  summary: 'pending pairing requests of strangers, and who is blocked',
  async run(p) {
    const r = await adminClient(p).get<PairingReply>('/admin/api/pairing');
    if (p.json) {
      printJson(r);
      return;
    }
    say('pending:');
    printTable(
      ['ID', 'PLATFORM', 'USER', 'NAME', 'CONVERSATION', 'ATTEMPTS', 'EXPIRES'],
      r.pending.map((q) => [
        q.id,
        q.platform,
        q.externalId,
        q.userName,
        q.conversationId,
        q.attempts,
        when(q.expiresAt),
      ]),
    );
    say();
    say('blocked:');
    printTable(
      ['ID', 'UNTIL', 'REASON'],
      r.blocklist.map((b) => [b.id, when(b.until), b.reason]),
    );
  },
};

const approve: Command = {
  name: 'pairing approve',
  synopsis: '<id> [--json]',
  summary: 'pair the person who asked; they may talk to the assistant from now on (operator)',
  args: ['id'],
  async run(p) {
    const id = requestId(this, p.args[0]);
    const r = await adminClient(p).call<{ request: PairingRequest }>(
      'POST',
      `/admin/api/pairing/${seg(id)}/approve`,
    );
    if (p.json) printJson(r);
    else say(`approved pairing request ${id}: ${r.request.platform} user ${r.request.externalId} is paired`);
  },
};

const deny: Command = {
  name: 'pairing deny',
  synopsis: '<id> [--block D] [--json]',
  summary: 'refuse a request and block its user for a while (operator)',
  details: '  --block D   how long the user stays blocked: 30m, 1d … (default: the service default, 1h)',
  options: { block: { type: 'string' } },
  args: ['id'],
  async run(p) {
    const id = requestId(this, p.args[0]);
    const block = flagString(p, 'block');
    const blockSeconds = block ? parseDurationSeconds(block, '--block', commandHelp(this)) : undefined;
    const r = await adminClient(p).call<{ request: PairingRequest }>(
      'POST',
      `/admin/api/pairing/${seg(id)}/deny`,
      blockSeconds ? { blockSeconds } : {},
    );
    if (p.json) printJson(r);
    else say(`denied pairing request ${id}: ${r.request.platform} user ${r.request.externalId} is blocked`);
  },
};

export const pairingCommands: Command[] = [list, approve, deny];
