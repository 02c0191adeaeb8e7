import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceProcess } from '../../scripts/lib/spawn-service.ts';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { waitFor } from '../support/infra.ts';
import { WorkflowTestbed } from './harness.ts';

// A module skill whose handler answers, and one whose handler throws.
const ONCALL_SKILL = `
export default {
  name: 'oncall',
  description: 'Says who is on call',
  triggers: ['^who is on ?call'],
  async handler(ctx) {
    return 'Alice is on call for ' + ctx.text.replace(/^who is on call for /, '') + ' (asked by ' + ctx.caller.userId + ')';
  },
};
`;
const BROKEN_SKILL = `
export default {
  name: 'broken',
  description: 'Always fails',
  triggers: ['^never matches here$'],
  async handler() {
    throw new Error('the on-call calendar is unreachable');
  },
};
`;
// No handler: the model answers with this system prompt.
const SUMMARY_SKILL = `
name: summarise
description: Summarises a text
triggers: ["^summarise"]
system_prompt: "You are the SUMMARY-SKILL-7f3a summariser. Answer in one line."
`;

const ONCALL_WF = `
name: oncall-report
trigger:
  webhook: {}
steps:
  - id: who
    type: skill
    with: { skill: oncall, text: "who is on call for {{ trigger.body.team }}" }
    timeout_ms: 10000
  - id: post
    type: send_message
    with: { channel: ops, text: "on call: {{ steps.who.output.text }}" }
`;

const UNKNOWN_WF = `
name: unknown-skill
trigger:
  webhook: {}
steps:
  - id: ask
    type: skill
    with: { skill: nope, text: "hello" }
    retry: { attempts: 3, backoff_ms: 50 }
  - id: never
    type: send_message
    with: { channel: ops, text: "not reached" }
`;

const BROKEN_WF = `
name: broken-skill
trigger:
  webhook: {}
steps:
  - id: ask
    type: skill
    with: { skill: broken, text: "who is on call" }
    retry: { attempts: 2, backoff_ms: 50 }
`;

const SUMMARY_WF = `
name: summary
trigger:
  webhook: {}
steps:
  - id: sum
    type: skill
    with: { skill: summarise, text: "summarise: {{ trigger.body.text }}" }
    timeout_ms: 20000
  - id: post
    type: send_message
    with: { channel: ops, text: "summary: {{ steps.sum.output.text }}" }
`;

describe('workflow skill steps (a real agent-worker and scheduler; fake LLM)', () => {
  const bed = new WorkflowTestbed();
  let fake: FakeLlm;
  let skillsDir = '';
  let scheduler: ServiceProcess;
  let worker: ServiceProcess;

  beforeAll(async () => {
    fake = await startFakeLlm();
    skillsDir = await mkdtemp(join(tmpdir(), 'sb-wf-skills-'));
    await writeFile(join(skillsDir, 'oncall.mjs'), ONCALL_SKILL);
    await writeFile(join(skillsDir, 'broken.mjs'), BROKEN_SKILL);
    await writeFile(join(skillsDir, 'summarise.yaml'), SUMMARY_SKILL);
    await bed.start({
      'oncall.yaml': ONCALL_WF,
      'unknown.yaml': UNKNOWN_WF,
      'broken.yaml': BROKEN_WF,
      'summary.yaml': SUMMARY_WF,
    });
    worker = await bed.spawnAgentWorker({
      MODEL_CHAIN: 'ollama/fake-small',
      OLLAMA_URL: fake.url,
      MODEL_RETRIES: '0',
      SKILLS_DIR: skillsDir,
    });
    scheduler = await bed.spawnScheduler();
  }, 120_000);

  afterAll(async () => {
    const codes = await bed.stop();
    await fake?.close();
    if (skillsDir) await rm(skillsDir, { recursive: true, force: true });
    expect(codes).toEqual([0]);
    expect(await worker.exited).toBe(0);
  }, 60_000);

  const trigger = async (workflow: string, body: Record<string, unknown>) => {
    const res = await bed.api(scheduler, `/workflows/${workflow}/trigger`, { method: 'POST', body });
    expect(res.status).toBe(202);
    return String(res.body.run_id);
  };
  const finished = (workflow: string, runId: string) =>
    waitFor(
      `the ${workflow} run to finish`,
      async () => {
        const r = (await bed.runs(workflow)).find((x) => x.id === runId);
        return r?.status === 'succeeded' || r?.status === 'failed' ? r : undefined;
      },
      30_000,
      50,
    );

  it('runs a module skill handler on the agent-worker and feeds its answer to a later step', async () => {
    const runId = await trigger('oncall-report', { team: 'payments' });
    const run = await finished('oncall-report', runId);
    expect(run, worker.logs.slice(-20).join('\n')).toMatchObject({ status: 'succeeded', error: null });
    const steps = await bed.stepRows(runId);
    expect(steps.map((s) => [s.step_id, s.step_type, s.attempt, s.status])).toEqual([
      ['who', 'skill', 1, 'succeeded'],
      ['post', 'send_message', 1, 'succeeded'],
    ]);
    expect(steps[0]!.output).toMatchObject({
      text: 'Alice is on call for payments (asked by workflow:oncall-report)',
      skill: 'oncall',
    });
    expect(bed.sent()).toContainEqual({
      channel: 'ops',
      text: 'on call: Alice is on call for payments (asked by workflow:oncall-report)',
    });
    // The handler answered: no model call.
    expect(fake.calls).toHaveLength(0);
    expect(worker.logs.some((l) => l.includes('skill run answered by its handler'))).toBe(true);
  });

  it('fails the run at once for an unknown skill, with the reason, without retrying', async () => {
    const runId = await trigger('unknown-skill', {});
    const run = await finished('unknown-skill', runId);
    expect(run).toMatchObject({ status: 'failed', failed_step: 'ask' });
    expect(String(run.error)).toMatch(/skill nope: TOOL_UNKNOWN: there is no skill "nope"/);
    const steps = await bed.stepRows(runId);
    expect(steps.map((s) => [s.step_id, s.attempt, s.status])).toEqual([['ask', 1, 'failed']]);
    expect(bed.sent().some((m) => m.text === 'not reached')).toBe(false);
  });

  it("retries a skill whose handler throws, per the step's retry policy, and fails with its error", async () => {
    const runId = await trigger('broken-skill', {});
    const run = await finished('broken-skill', runId);
    expect(run).toMatchObject({ status: 'failed', failed_step: 'ask' });
    const steps = await bed.stepRows(runId);
    expect(steps.map((s) => [s.attempt, s.status])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
    ]);
    for (const s of steps) {
      expect(String(s.error)).toMatch(
        /skill broken: TOOL_FAILED: skill broken: the handler failed: the on-call calendar is unreachable/,
      );
    }
  });

  it("answers a skill without handler with the model, under the skill's system prompt", async () => {
    const runId = await trigger('summary', { text: 'disk is 91% full on db-2' });
    const run = await finished('summary', runId);
    expect(run, worker.logs.slice(-20).join('\n')).toMatchObject({ status: 'succeeded' });
    const steps = await bed.stepRows(runId);
    expect(steps[0]!.output).toMatchObject({
      text: 'echo: summarise: disk is 91% full on db-2',
      skill: 'summarise',
    });
    expect(bed.sent()).toContainEqual({
      channel: 'ops',
      text: 'summary: echo: summarise: disk is 91% full on db-2',
    });
    expect(fake.calls).toHaveLength(1);
    const call = fake.calls[0]!;
    expect(call.model).toMatch(/^fake-small/);
    // One turn, no history: the skill's system prompt and the step's text.
    expect(call.messages).toEqual([
      { role: 'system', content: 'You are the SUMMARY-SKILL-7f3a summariser. Answer in one line.' },
      { role: 'user', content: 'summarise: disk is 91% full on db-2' },
    ]);
    // Not stored as a user conversation.
    const stored = await bed.db.query<{ n: number }>(
      'SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM conversations) AS n',
    );
    expect(Number(stored.rows[0]!.n)).toBe(0);
  });
});
