import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinToolNames, createLogger, type InboundEnvelope, type ToolCaller } from '@switchboard/core';
import { parseModelChain } from '@switchboard/models';
import { RoutingStore } from '@switchboard/routing';
import { builtinToolSpecs } from '@switchboard/tools';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../services/agent-worker/src/agent/agent.ts';
import { ChainFactory } from '../../services/agent-worker/src/agent/chains.ts';
import { ConversationSettings } from '../../services/agent-worker/src/agent/conversation-settings.ts';
import { TokenUsage } from '../../services/agent-worker/src/limits/token-usage.ts';
import { Router } from '../../services/agent-worker/src/routing/router.ts';
import { SkillRegistry } from '../../services/agent-worker/src/skills/registry.ts';
import { runToolLoop, type ToolLoopDeps } from '../../services/agent-worker/src/tools/loop.ts';
import { ToolCallStore } from '../../services/agent-worker/src/tools/tool-call-store.ts';
import { Toolbox } from '../../services/agent-worker/src/tools/toolbox.ts';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { waitFor } from '../support/infra.ts';
import { conversationDir, startSite, startToolBed, type ToolBed } from '../tools/harness.ts';

/**
 * Issue 11, item 7: what a call may run is the route's grant as stored, read by the tool-runner
 * itself; a list in the request only narrows it. Skills (and the local tools they bring) exist only
 * on routes that allow them. Each conversation and workflow has its own folder. A call is on record
 * as started before it runs. Real tool-runner over real RabbitMQ RPC, real PostgreSQL; fake model.
 */
const log = createLogger('tools-grant-test', 'error');

describe('hostile: tool grants, skills per route, workspaces per conversation', () => {
  let bed: ToolBed;
  let pool: pg.Pool;
  let routes: RoutingStore;
  let llm: FakeLlm;
  let skillsDir: string;
  let workflowsDir: string;
  let slow: Awaited<ReturnType<typeof startSite>>;
  let release: () => void = () => {};
  const rule: Record<string, string> = {};

  beforeAll(async () => {
    slow = await startSite({
      // Holds the answer until the test has seen the call on record as started.
      '/slow': (_req, res) => {
        release = () => {
          if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/plain' }).end('slow answer');
        };
      },
    });
    // The scheduler's folder, as the runner mounts it read-only: a file workflow's grant.
    workflowsDir = await mkdtemp(join(tmpdir(), 'sb-grant-workflows-'));
    await writeFile(
      join(workflowsDir, 'filed.yaml'),
      'name: filed\ntrigger: { cron: "0 4 * * *" }\nsteps:\n  - id: l\n    type: tool\n    with: { tool: files, arguments: { op: list } }\n',
    );
    await writeFile(
      join(workflowsDir, 'paused.yaml'),
      'name: paused\nenabled: false\ntrigger: { cron: "0 4 * * *" }\nsteps:\n  - id: l\n    type: tool\n    with: { tool: files, arguments: { op: list } }\n',
    );
    bed = await startToolBed({
      // The default route grants nothing here: every grant below comes from a stored profile.
      DEFAULT_PROFILE_TOOLS: '',
      EGRESS_ALLOWLIST: `127.0.0.1:${slow.port}`,
      WORKFLOWS_DIR: workflowsDir,
    });
    pool = new pg.Pool({ connectionString: bed.databaseUrl });
    routes = new RoutingStore(pool);
    await routes.createProfile({ name: 'chat', tools: [] });
    await routes.createProfile({ name: 'ops', tools: ['files', 'http_fetch'] });
    await routes.createProfile({ name: 'shell-ops', tools: ['files', 'shell'] });
    await routes.createProfile({ name: 'skilled', tools: [], skills: ['diskskill'] });
    rule.chat = (
      await routes.createRule({ name: 'chat', match: { text: '^chat:' }, target: { profile: 'chat' } })
    ).id;
    rule.ops = (
      await routes.createRule({
        name: 'ops',
        match: { platform: 'web', text: '^ops:' },
        target: { profile: 'ops' },
      })
    ).id;
    rule.shellOps = (
      await routes.createRule({
        name: 'shell-ops',
        match: { platform: 'web', text: '^sh:' },
        target: { profile: 'shell-ops' },
      })
    ).id;
    rule.slackOps = (
      await routes.createRule({ name: 'slack-ops', match: { platform: 'slack' }, target: { profile: 'ops' } })
    ).id;
    rule.skilled = (
      await routes.createRule({
        name: 'skilled',
        match: { text: '^skilled:' },
        target: { profile: 'skilled' },
      })
    ).id;
    rule.off = (
      await routes.createRule({ name: 'off', enabled: false, match: {}, target: { profile: 'ops' } })
    ).id;
    llm = await startFakeLlm();
    skillsDir = await mkdtemp(join(tmpdir(), 'sb-grant-skills-'));
  });

  afterAll(async () => {
    release();
    slow?.server.closeAllConnections();
    await new Promise((r) => slow?.server.close(r));
    await pool?.end();
    await bed?.stop();
    await llm?.close();
    if (skillsDir) await rm(skillsDir, { recursive: true, force: true });
    if (workflowsDir) await rm(workflowsDir, { recursive: true, force: true });
  });

  const caller = (grant: ToolCaller['grant'], over: Partial<ToolCaller> = {}) => ({
    ...bed.request('files', {}).caller,
    grant,
    ...over,
  });

  /** Every file anywhere under the workspace root, as relative paths. */
  const everything = async () => (await readdir(bed.workspace, { recursive: true })).map(String).sort();

  describe('the tool-runner reads the grant itself', () => {
    it('refuses a forged list: shell and files on a route whose profile grants none, whatever allowedTools says; nothing runs', async () => {
      const before = await everything();
      const forged = {
        allowedTools: [...builtinToolNames],
        caller: caller({ kind: 'route', ruleId: rule.chat! }),
      };
      const shell = await bed.call('shell', { command: 'touch', args: ['shell-marker'] }, forged);
      const files = await bed.call('files', { op: 'write', path: 'files-marker', content: 'x' }, forged);
      for (const r of [shell, files]) {
        expect(r.ok).toBe(false);
        expect(r.error?.code).toBe('TOOL_NOT_ALLOWED');
        expect(r.error?.message).toMatch(/is not granted to this route/);
      }
      // The default route grants what the runner's DEFAULT_PROFILE_TOOLS says (nothing here).
      const dflt = await bed.call(
        'files',
        { op: 'write', path: 'files-marker', content: 'x' },
        {
          caller: caller({ kind: 'route', ruleId: null }),
        },
      );
      expect(dflt.error?.code).toBe('TOOL_NOT_ALLOWED');
      // Nothing ran: no marker anywhere, not even a folder for the conversation.
      expect(await everything()).toEqual(before);
      expect(existsSync(join(bed.home, 'files-marker'))).toBe(false);
    });

    it('refuses a request with no grant, an unknown or disabled rule, or a rule written for another platform', async () => {
      const before = await everything();
      const cases: Array<[ToolCaller['grant'] | undefined, Partial<ToolCaller>, RegExp]> = [
        [undefined, {}, /names no grant/],
        [{ kind: 'route', ruleId: '987654' }, {}, /there is no routing rule 987654/],
        [{ kind: 'route', ruleId: rule.off! }, {}, /is disabled/],
        // The slack-ops rule grants files, but only to Slack conversations.
        [{ kind: 'route', ruleId: rule.slackOps! }, {}, /does not apply to this conversation/],
        [{ kind: 'workflow', workflow: 'nightly' }, {}, /there is no workflow "nightly"/],
      ];
      for (const [grant, over, reason] of cases) {
        const c = caller(grant, over);
        if (!grant) delete (c as { grant?: unknown }).grant;
        const r = await bed.call('files', { op: 'write', path: 'marker', content: 'x' }, { caller: c });
        expect(r.error?.code, JSON.stringify(grant)).toBe('TOOL_NOT_ALLOWED');
        expect(r.error?.message).toMatch(reason);
      }
      expect(await everything()).toEqual(before);
    });

    it('runs what the profile grants, and stops granting it as soon as the profile changes', async () => {
      const ops = { caller: caller({ kind: 'route', ruleId: rule.ops! }) };
      const ok = await bed.call('files', { op: 'write', path: 'granted.txt', content: 'yes' }, ops);
      expect(ok).toMatchObject({ ok: true, output: 'wrote 3 bytes to granted.txt' });
      // A request can narrow the grant: files is refused when its own list leaves it out.
      const narrowed = await bed.call(
        'files',
        { op: 'read', path: 'granted.txt' },
        { ...ops, allowedTools: ['http_fetch'] },
      );
      expect(narrowed.error?.code).toBe('TOOL_NOT_ALLOWED');
      await routes.updateProfile('ops', { tools: ['http_fetch'] });
      // The runner's cache is dropped on the tables' NOTIFY: the next calls are refused.
      const refused = await waitFor('the runner to see the profile change', async () => {
        const r = await bed.call('files', { op: 'write', path: 'after.txt', content: 'no' }, ops);
        return r.error?.code === 'TOOL_NOT_ALLOWED' ? r : undefined;
      });
      expect(refused.error?.message).toMatch(/not granted to this route/);
      expect(existsSync(join(bed.home, 'after.txt'))).toBe(false);
      await routes.updateProfile('ops', { tools: ['files', 'http_fetch'] });
      await waitFor('the grant back', async () => (await bed.call('files', { op: 'list' }, ops)).ok);
    });

    it('records a forged call as refused by the runner through the worker loop: started, then refused, never ok', async () => {
      const store = new ToolCallStore(pool);
      const toolbox = new Toolbox({ invoker: bed.client, builtin: [...builtinToolSpecs], log });
      const q = `forged ${randomUUID()}`;
      llm.setRules([
        {
          match: { contains: q },
          times: 1,
          toolCalls: [{ name: 'shell', arguments: { command: 'touch', args: ['loop-marker'] } }],
        },
        { match: { contains: q }, reply: 'done' },
      ]);
      const messageId = `web:web:${randomUUID()}`;
      const who = caller({ kind: 'route', ruleId: rule.chat! }, { messageId });
      // A worker that offers shell on the chat route anyway (a bug, or a compromised worker).
      await runToolLoop(loopDeps(toolbox, store), {
        messages: [{ role: 'user', content: q }],
        caller: who,
        allowedTools: ['shell'],
      });
      const rows = await store.listByMessage(messageId);
      expect(rows.map((r) => [r.tool, r.status, r.errorCode])).toEqual([
        ['shell', 'refused', 'TOOL_NOT_ALLOWED'],
      ]);
      expect(rows[0]?.finishedAt).toBeInstanceOf(Date);
      expect((await everything()).some((p) => p.endsWith('loop-marker'))).toBe(false);
    });

    it('has a call on record as started while it runs (a slow http_fetch held open), completed after', async () => {
      const store = new ToolCallStore(pool);
      const toolbox = new Toolbox({ invoker: bed.client, builtin: [...builtinToolSpecs], log });
      const q = `slow ${randomUUID()}`;
      llm.setRules([
        {
          match: { contains: q },
          times: 1,
          toolCalls: [{ name: 'http_fetch', arguments: { url: `${slow.url}/slow` } }],
        },
        { match: { contains: q }, reply: 'fetched' },
      ]);
      const messageId = `web:web:${randomUUID()}`;
      const running = runToolLoop(loopDeps(toolbox, store), {
        messages: [{ role: 'user', content: q }],
        caller: caller({ kind: 'route', ruleId: rule.ops! }, { messageId }),
        allowedTools: ['http_fetch'],
      });
      // The server has the request, the answer is held: a crash now would leave this row.
      await waitFor('the slow server to be asked', () => slow.hits.includes('GET /slow'));
      const [started] = await store.listByMessage(messageId);
      expect(started).toMatchObject({ tool: 'http_fetch', status: 'started' });
      expect(started).not.toHaveProperty('finishedAt');
      release();
      expect((await running).content).toBe('fetched');
      const [done] = await store.listByMessage(messageId);
      expect(done).toMatchObject({ id: started!.id, status: 'ok', finishedAt: expect.any(Date) });
    });
  });

  it('grants a file workflow the tools its steps name, and nothing while it is disabled', async () => {
    const filed = { caller: caller({ kind: 'workflow', workflow: 'filed' }) };
    expect((await bed.call('files', { op: 'list' }, filed)).ok).toBe(true);
    const shell = await bed.call('shell', { command: 'touch', args: ['wf-marker'] }, filed);
    expect(shell.error?.code).toBe('TOOL_NOT_ALLOWED');
    const paused = await bed.call(
      'files',
      { op: 'list' },
      { caller: caller({ kind: 'workflow', workflow: 'paused' }) },
    );
    expect(paused.error).toMatchObject({
      code: 'TOOL_NOT_ALLOWED',
      message: expect.stringMatching(/disabled/),
    });
    expect((await everything()).some((p) => p.endsWith('wf-marker'))).toBe(false);
  });

  describe('workspaces', () => {
    it("runs shell commands in the caller's own folder: another conversation's files are out of reach", async () => {
      const sh = (conversationId: string) => ({
        caller: caller({ kind: 'route', ruleId: rule.shellOps! }, { conversationId }),
      });
      const w = await bed.call(
        'files',
        { op: 'write', path: 'notes.txt', content: 'carol-only' },
        sh('conv-carol'),
      );
      expect(w.ok).toBe(true);
      // The owner's shell sees its own file by a relative path: the working folder is hers.
      const own = await bed.call('shell', { command: 'cat', args: ['notes.txt'] }, sh('conv-carol'));
      expect(own.output).toContain('carol-only');
      // Another conversation: not in its folder, and every way out of it is refused.
      const attempts: Array<[string, string[]]> = [
        ['cat', ['notes.txt']],
        ['cat', [`../${'x'.repeat(32)}/notes.txt`]],
        ['ls', ['..']],
        ['grep', ['-r', 'carol-only', '.']],
        ['cat', [join(conversationDir(bed.workspace, 'web', 'web', 'conv-carol'), 'notes.txt')]],
      ];
      for (const [command, args] of attempts) {
        const r = await bed.call('shell', { command, args }, sh('conv-dave'));
        expect(r.output, `${command} ${args.join(' ')}`).not.toContain('carol-only');
      }
      expect(await everything()).not.toContain(join('conversations', 'notes.txt'));
    });

    it("keeps one conversation's files from another conversation and from a workflow", async () => {
      const ops = (conversationId: string) => ({
        caller: caller({ kind: 'route', ruleId: rule.ops! }, { conversationId }),
      });
      const w = await bed.call(
        'files',
        { op: 'write', path: 'secret.txt', content: 'alice-only' },
        ops('conv-alice'),
      );
      expect(w.ok).toBe(true);
      // Stored in alice's own folder, derived from the verified caller, not from the path.
      expect(existsSync(join(conversationDir(bed.workspace, 'web', 'web', 'conv-alice'), 'secret.txt'))).toBe(
        true,
      );
      for (const path of ['secret.txt', '../conv-alice/secret.txt', `../${'x'.repeat(32)}/secret.txt`]) {
        const r = await bed.call('files', { op: 'read', path }, ops('conv-bob'));
        expect(r.ok, path).toBe(false);
        expect(r.output).not.toContain('alice-only');
      }
      const search = await bed.call('files', { op: 'search', query: 'alice-only' }, ops('conv-bob'));
      expect(search.output).toMatch(/^0 match\(es\)/);
      // A workflow whose definition names the files tool: its own folder, not alice's.
      await pool.query(`INSERT INTO workflows (name, source) VALUES ('nightly', $1)`, [
        'name: nightly\ntrigger: { cron: "0 3 * * *" }\nsteps:\n  - id: list\n    type: tool\n    with: { tool: files, arguments: { op: list } }\n',
      ]);
      const wf = { caller: caller({ kind: 'workflow', workflow: 'nightly' }) };
      const list = await waitFor('the workflow to be granted files', async () => {
        const r = await bed.call('files', { op: 'list', recursive: true }, wf);
        return r.ok ? r : undefined;
      });
      expect(list.output).not.toContain('secret.txt');
      const read = await bed.call('files', { op: 'read', path: 'secret.txt' }, wf);
      expect(read.output).not.toContain('alice-only');
      // The workflow's definition names files only: http_fetch is not granted to it.
      const fetch = await bed.call('http_fetch', { url: `${slow.url}/other` }, wf);
      expect(fetch.error?.code).toBe('TOOL_NOT_ALLOWED');
    });
  });

  describe('skills per route', () => {
    it("offers a module skill's local tool only on a route whose profile allows the skill", async () => {
      const marker = join(skillsDir, 'probe-ran');
      await writeFile(
        join(skillsDir, 'diskskill.mjs'),
        `import { writeFileSync } from 'node:fs';
export default {
  name: 'diskskill',
  description: 'Disk checks',
  triggers: ['disk'],
  systemPrompt: 'DISK-SKILL-PROMPT',
  localTools: [{
    spec: { name: 'disk_probe', description: 'Probes the disks', parameters: { type: 'object', properties: {} } },
    async run() { writeFileSync(${JSON.stringify(marker)}, 'ran'); return 'disks fine'; },
  }],
};
`,
      );
      const skills = new SkillRegistry({ dir: skillsDir, allowModules: true, debounceMs: 50, log });
      await skills.reload();
      expect(skills.get('diskskill')?.localTools).toHaveLength(1);
      const { agent, router } = await agentOn(skills);
      try {
        llm.setRules([
          {
            match: { contains: 'chat: check the disk' },
            toolCalls: [{ name: 'disk_probe', arguments: {} }],
            times: 1,
          },
          { match: { contains: 'chat: check the disk' }, reply: 'plain answer' },
          {
            match: { contains: 'skilled: check the disk' },
            toolCalls: [{ name: 'disk_probe', arguments: {} }],
            times: 1,
          },
          { match: { contains: 'skilled: check the disk' }, reply: 'probed answer' },
        ]);
        const before = llm.calls.length;
        const chat = await agent.answer(input('chat: check the disk'));
        expect(chat.route).toBe('chat');
        const chatCalls = llm.calls.slice(before);
        // No tool offered at all, the skill's prompt not used, and its tool never ran.
        expect(chatCalls.map((c) => c.tools)).toEqual([undefined]);
        expect(String(chatCalls[0]?.messages[0]?.content)).not.toContain('DISK-SKILL-PROMPT');
        expect(existsSync(marker)).toBe(false);
        // The control: where the profile lists the skill, its tool is offered and runs.
        const mark = llm.calls.length;
        const skilled = await agent.answer(input('skilled: check the disk'));
        expect(skilled).toMatchObject({ route: 'skilled', text: 'probed answer' });
        const offered = llm.calls[mark]?.tools as Array<{ function: { name: string } }>;
        expect(offered.map((t) => t.function.name)).toEqual(['disk_probe']);
        expect(existsSync(marker)).toBe(true);
      } finally {
        await router.stop();
        skills.close();
      }
    });
  });

  function loopDeps(toolbox: Toolbox, store: ToolCallStore): ToolLoopDeps {
    const chains = new ChainFactory({
      models: {
        ollamaUrl: llm.url,
        openaiBaseUrl: `${llm.url}/v1`,
        openaiApiKey: 'x',
        defaultTimeoutMs: 10_000,
      },
      retries: 0,
      log,
    });
    return {
      chain: chains.get(parseModelChain('ollama/fake-small')),
      tools: toolbox,
      settings: {
        maxRounds: 2,
        maxCallsPerRound: 4,
        defaultTimeoutMs: 15_000,
        timeoutsMs: {},
        outputMaxChars: 4_000,
      },
      log,
      record: (c, calls) => store.record(c, calls),
      start: (c, call) => store.start(c, call),
    };
  }

  async function agentOn(skills: SkillRegistry) {
    const router = new Router({
      pool,
      databaseUrl: bed.databaseUrl,
      log,
      defaults: {
        systemPrompt: 'DEFAULT-PROMPT',
        modelChain: parseModelChain('ollama/fake-small'),
        tools: [],
      },
      reloadIntervalMs: 60_000,
      regexBudgetMs: 50,
    });
    await router.start();
    const store = new ToolCallStore(pool);
    const toolbox = new Toolbox({ invoker: bed.client, builtin: [...builtinToolSpecs], log });
    toolbox.setLocalTools(skills.list().flatMap((s) => s.localTools));
    const { chain: _c, ...loop } = loopDeps(toolbox, store);
    const agent = new Agent({
      router,
      skills,
      chains: new ChainFactory({
        models: {
          ollamaUrl: llm.url,
          openaiBaseUrl: `${llm.url}/v1`,
          openaiApiKey: 'x',
          defaultTimeoutMs: 10_000,
        },
        retries: 0,
        log,
      }),
      loop,
      usage: new TokenUsage(pool),
      settings: new ConversationSettings(pool),
      log,
      knowledge: { searchLimit: 3, contextMaxChars: 2_000 },
      toolsAvailable: () => [],
    });
    return { agent, router };
  }
});

function input(text: string): { env: InboundEnvelope; history: []; userContent: string } {
  const id = randomUUID();
  return {
    env: {
      v: 1,
      kind: 'inbound',
      id: `web:web:${id}`,
      platform: 'web',
      botId: 'web',
      conversationId: `grant-${id}`,
      user: { id: 'alice' },
      text,
      attachments: [],
      receivedAt: new Date().toISOString(),
      traceId: `trace-${id}`,
    } as InboundEnvelope,
    history: [],
    userContent: text,
  };
}
