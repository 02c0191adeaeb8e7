import { adminClient, seg } from '../api-client.ts';
import type { Command } from '../args.ts';
import { clip, printJson, printTable, say, when } from '../output.ts';

interface TraceReply {
  messageId: string;
  traceId: string;
  hops: Array<{ service: string; event: string; at: string; detail?: unknown }>;
  modelCalls: Array<{
    model: string;
    status: string;
    latencyMs: number | null;
    promptTokens: number | null;
    completionTokens: number | null;
    at: string;
  }>;
  toolCalls: Array<{
    tool: string;
    status: string;
    errorCode: string | null;
    durationMs: number;
    round: number;
    at: string;
  }>;
}

export const traceCommand: Command = {
  name: 'trace',
  synopsis: '<message-id> [--json]',
  summary: "one message's path: hops across services, model calls, tool calls",
  details: `<message-id> is the id the ingress gave the message, e.g. web:web:<uuid> or tg:<bot>:<update_id>
(the "id" of POST /v1/messages, the x-switchboard-message-id header). Use its trace id to find
every log line of the message in Kibana or \`switchboard\`'s log view.`,
  args: ['message-id'],
  async run(p) {
    const t = await adminClient(p).get<TraceReply>(`/admin/api/messages/${seg(p.args[0] ?? '')}/trace`);
    if (p.json) {
      printJson(t);
      return;
    }
    say(`message ${t.messageId}`);
    say(`trace   ${t.traceId}`);
    say();
    printTable(
      ['AT', 'SERVICE', 'EVENT'],
      t.hops.map((h) => [when(h.at), h.service, clip(h.event, 80)]),
      '(no hops recorded)',
    );
    if (t.modelCalls.length) {
      say();
      printTable(
        ['MODEL', 'STATUS', 'LATENCY MS', 'PROMPT TOKENS', 'COMPLETION TOKENS'],
        t.modelCalls.map((m) => [m.model, m.status, m.latencyMs, m.promptTokens, m.completionTokens]),
      );
    }
    if (t.toolCalls.length) {
      say();
      printTable(
        ['ROUND', 'TOOL', 'STATUS', 'ERROR', 'MS'],
        t.toolCalls.map((c) => [c.round, c.tool, c.status, c.errorCode, c.durationMs]),
      );
    }
  },
};
