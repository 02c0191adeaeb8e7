import { adminClient, seg } from '../api-client.ts';
import { badArgument, type Command, flagString } from '../args.ts';
import { clip, printJson, printTable, say, when } from '../output.ts';

interface WorkflowSummary {
  name: string;
  description?: string;
  enabled: boolean;
  trigger: { type: string; schedule?: string; timezone?: string; pattern?: string };
  next_run: string | null;
}

interface RunView {
  id: string;
  trigger_type: string;
  status: string;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

function workflowName(c: Command, name: string | undefined): string {
  if (!name || !/^[a-z0-9][a-z0-9_-]{0,63}$/.test(name))
    throw badArgument(c, `"${name ?? ''}" is not a workflow name (lower-case letters, digits, - and _)`);
  return name;
}

const list: Command = {
  name: 'workflow list',
  synopsis: '[--json]',
  summary: "the scheduler's workflows, their triggers and next run",
  async run(p) {
    const r = await adminClient(p).get<{ workflows: WorkflowSummary[]; problems?: unknown[] }>(
      '/admin/api/workflows',
    );
    if (p.json) {
      printJson(r);
      return;
    }
    printTable(
      ['NAME', 'ENABLED', 'TRIGGER', 'NEXT RUN', 'DESCRIPTION'],
      r.workflows.map((w) => [
        w.name,
        w.enabled ? 'yes' : 'no',
        [w.trigger.type, w.trigger.schedule ?? w.trigger.pattern].filter(Boolean).join(' '),
        when(w.next_run),
        clip(w.description, 60),
      ]),
      '(no workflows)',
    );
    if (r.problems?.length) say(`\n${r.problems.length} workflow file(s) not loaded; see --json`);
  },
};

const runs: Command = {
  name: 'workflow runs',
  synopsis: '<name> [--limit N] [--json]',
  summary: "a workflow's latest runs",
  options: { limit: { type: 'string' } },
  args: ['name'],
  async run(p) {
    const name = workflowName(this, p.args[0]);
    const limit = flagString(p, 'limit') ?? '20';
    if (!/^\d{1,3}$/.test(limit)) throw badArgument(this, '--limit: a number from 1 to 200');
    const r = await adminClient(p).get<{ runs: RunView[] }>(
      `/admin/api/workflows/${seg(name)}/runs?limit=${limit}`,
    );
    if (p.json) printJson(r);
    else
      printTable(
        ['RUN', 'TRIGGER', 'STATUS', 'CREATED', 'FINISHED', 'ERROR'],
        r.runs.map((x) => [
          x.id,
          x.trigger_type,
          x.status,
          when(x.created_at),
          when(x.finished_at),
          clip(x.error, 60),
        ]),
        '(no runs)',
      );
  },
};

const run: Command = {
  name: 'workflow run',
  synopsis: '<name> [--input JSON] [--json]',
  summary: 'run a workflow now (operator)',
  details: '  --input JSON   an object handed to the run as its trigger body (default {})',
  options: { input: { type: 'string' } },
  args: ['name'],
  async run(p) {
    const name = workflowName(this, p.args[0]);
    let body: unknown = {};
    const input = flagString(p, 'input');
    if (input !== undefined) {
      try {
        body = JSON.parse(input);
      } catch {
        throw badArgument(this, '--input: not JSON');
      }
      if (!body || typeof body !== 'object' || Array.isArray(body))
        throw badArgument(this, '--input: a JSON object, e.g. {"host":"db01"}');
    }
    const r = await adminClient(p).call<{ run_id: string; status: string; duplicate?: boolean }>(
      'POST',
      `/admin/api/workflows/${seg(name)}/run`,
      body,
    );
    if (p.json) printJson(r);
    else say(`workflow ${name}: run ${r.run_id} ${r.status}${r.duplicate ? ' (already requested)' : ''}`);
  },
};

export const workflowCommands: Command[] = [list, runs, run];
