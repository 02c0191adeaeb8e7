import { on } from 'node:events';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@switchboard/core';
import { afterEach, describe, expect, it } from 'vitest';
import { capturedLogger } from '../../../../test/support/captured-logger.ts';
import { SkillRegistry, type SkillsChange } from './registry.ts';
import { SkillErrorCode } from './types.ts';

const WORKSPACE_SKILLS = fileURLToPath(new URL('../../../../workspace/skills', import.meta.url));

const dirs: string[] = [];
const registries: SkillRegistry[] = [];

afterEach(() => {
  for (const r of registries.splice(0)) r.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A skills folder whose .js/.ts files are ES modules, as the shipped workspace/skills is. */
function skillsDir(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-skills-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function registry(dir: string, opts: { allowModules?: boolean; log?: Logger } = {}): SkillRegistry {
  const r = new SkillRegistry({
    dir,
    allowModules: opts.allowModules ?? true,
    debounceMs: 30,
    log: opts.log ?? capturedLogger('skills-test').log,
  });
  registries.push(r);
  return r;
}

/** Resolves with the first change event that satisfies `done`; fails at the deadline. */
async function changeWhere(
  r: SkillRegistry,
  done: (c: SkillsChange) => boolean,
  timeoutMs = 10_000,
): Promise<SkillsChange> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    for await (const [change] of on(r, 'change', { signal }) as AsyncIterable<[SkillsChange]>) {
      if (done(change)) return change;
    }
  } catch (err) {
    if ((err as Error).name === 'AbortError') {
      throw new Error(
        `no matching skills change within ${timeoutMs} ms (now: ${r.list().map((s) => s.name)})`,
      );
    }
    throw err;
  }
  throw new Error('change events ended');
}

/** Every loaded skill's name: the registry only matches among the skills a route allows. */
const all = (r: SkillRegistry) => r.list().map((s) => s.name);

function yamlSkill(name: string, extra = ''): string {
  return [
    `name: ${name}`,
    `description: The ${name} skill`,
    'triggers:',
    `  - '^${name}\\b'`,
    'system_prompt: |',
    `  You are the ${name} skill.`,
    extra,
  ].join('\n');
}

const MODULE_SKILL = `
export default {
  name: 'oncall',
  description: 'Says who is on call',
  triggers: [/^who is on ?call/i, { keyword: '值班' }],
  tools: ['http_fetch'],
  model: 'ollama/qwen2.5:7b,openai/gpt-4o-mini@30000',
  localTools: [
    {
      spec: { name: 'rota', description: 'The rota', parameters: { type: 'object', properties: {} } },
      async run(args) { return 'rota: alice, bob ' + JSON.stringify(args); },
    },
  ],
  async handler(ctx) {
    return ctx.text.includes('?') ? undefined : 'Alice is on call (' + ctx.match[0] + ')';
  },
};
`;

const TS_SKILL = `
interface Args { host: string }
const greet = (a: Args): string => 'pinged ' + a.host;
export default {
  name: 'ping-ts',
  description: 'A TypeScript skill',
  triggers: ['^ping\\\\s+(?<host>\\\\S+)'],
  systemPrompt: 'You ping hosts.',
  knowledge: true,
  async handler(ctx: { match: RegExpExecArray }): Promise<string> {
    return greet({ host: ctx.match.groups!.host! });
  },
};
`;

describe('SkillRegistry loading', () => {
  it('loads the shipped example skills and picks them by trigger', async () => {
    const r = registry(WORKSPACE_SKILLS);
    await r.reload();
    expect(r.errors()).toEqual([]);
    expect(r.list().map((s) => s.name)).toEqual(['server-status', 'faq']);

    const faq = r.get('faq')!;
    expect(faq).toMatchObject({ format: 'yaml', knowledge: true, tools: [], file: 'faq.yaml' });
    expect(faq.systemPrompt).toContain('[1]');
    const status = r.get('server-status')!;
    expect(status).toMatchObject({ tools: ['shell'], knowledge: false, priority: 10 });
    for (const cmd of ['uptime', 'df -h', 'free -m']) expect(status.systemPrompt).toContain(cmd);

    expect(r.match('How do I restart PostgreSQL?', all(r))?.skill.name).toBe('faq');
    expect(r.match('FAQ: vpn', all(r))?.skill.name).toBe('faq');
    expect(r.match('如何申请服务器权限？', all(r))?.skill.name).toBe('faq');
    expect(r.match('server status please', all(r))?.skill.name).toBe('server-status');
    // Matches both skills' triggers: the higher priority wins.
    expect(r.match('what is the disk usage on prod?', all(r))?.skill.name).toBe('server-status');
    expect(r.match('服务器状态怎么样', all(r))?.skill.name).toBe('server-status');
    expect(r.match('hello there', all(r))).toBeUndefined();
    expect(r.match('the runbook says what?', all(r))?.skill.name).toBe('faq');
    expect(r.match('runbooks', all(r))).toBeUndefined();
  });

  it('loads YAML, JavaScript and TypeScript skills into one shape', async () => {
    const dir = skillsDir({
      'a-yaml.yaml': yamlSkill(
        'alpha',
        'tools: [files, http_fetch]\nmodel: openai/gpt-4o-mini\nknowledge: true',
      ),
      'oncall.mjs': MODULE_SKILL,
      'ping.ts': TS_SKILL,
      'README.md': '# not a skill',
      'notes.txt': 'not a skill either',
    });
    const r = registry(dir);
    await r.reload();
    expect(r.errors()).toEqual([]);
    expect(r.list().map((s) => [s.name, s.format, s.file])).toEqual([
      ['alpha', 'yaml', 'a-yaml.yaml'],
      ['oncall', 'module', 'oncall.mjs'],
      ['ping-ts', 'module', 'ping.ts'],
    ]);
    expect(r.get('alpha')).toMatchObject({
      tools: ['files', 'http_fetch'],
      model: [{ provider: 'openai', model: 'gpt-4o-mini' }],
      knowledge: true,
      localTools: [],
    });
    expect(r.get('alpha')!.handler).toBeUndefined();

    const oncall = r.get('oncall')!;
    expect(oncall.model).toEqual([
      { provider: 'ollama', model: 'qwen2.5:7b' },
      { provider: 'openai', model: 'gpt-4o-mini', timeoutMs: 30_000 },
    ]);
    expect(oncall.tools).toEqual(['http_fetch']);
    expect(oncall.localTools.map((t) => t.spec.name)).toEqual(['rota']);
    const toolCtx = {
      caller: {
        platform: 'web' as const,
        botId: 'b',
        conversationId: 'c',
        userId: 'u',
        messageId: 'm',
        traceId: 't',
      },
      signal: new AbortController().signal,
      timeoutMs: 5_000,
    };
    expect(await oncall.localTools[0]!.run({ week: 3 }, toolCtx)).toBe('rota: alice, bob {"week":3}');

    const hit = r.match('Who is oncall today', all(r))!;
    expect(hit.skill.name).toBe('oncall');
    const ctx = {
      text: 'Who is oncall today',
      match: hit.match,
      caller: toolCtx.caller,
      signal: toolCtx.signal,
      log: console,
    };
    expect(await oncall.handler!(ctx)).toBe('Alice is on call (Who is oncall)');
    expect(await oncall.handler!({ ...ctx, text: 'who is on call?' })).toBeUndefined();
    expect(r.match('今天谁值班', all(r))?.skill.name).toBe('oncall');

    const ping = r.match('ping db-1.internal', all(r))!;
    expect(ping.skill.name).toBe('ping-ts');
    expect(ping.skill.knowledge).toBe(true);
    expect(await ping.skill.handler!({ ...ctx, text: 'ping db-1.internal', match: ping.match })).toBe(
      'pinged db-1.internal',
    );
  });

  it('reports every broken file with its reason and keeps the good ones', async () => {
    const { log, lines } = capturedLogger('skills-test');
    const dir = skillsDir({
      '01-good.yaml': yamlSkill('good'),
      '02-not-yaml.yaml': 'name: broken\ndescription: [unclosed\n',
      '03-missing-prompt.yaml': 'name: noprompt\ndescription: x\ntriggers: [x]\n',
      '04-typo.yml': `${yamlSkill('typo')}\nsystem_promt: misspelt\n`,
      '05-bad-tool.yaml': `${yamlSkill('badtool')}\ntools: [shell, rm_rf]\n`,
      '06-bad-regex.yaml': 'name: badre\ndescription: x\ntriggers: ["(unclosed"]\nsystem_prompt: x\n',
      '07-redos.yaml': 'name: redos\ndescription: x\ntriggers: ["^(a+)+$"]\nsystem_prompt: x\n',
      '08-syntax.mjs': "export default { name: 'syntax', description: 'x', triggers: ['x'] ",
      '09-throws.mjs': "throw new Error('boom at import');\nexport default {};",
      '10-no-default.mjs': 'export const name = "nodefault";',
      '11-bad-shape.js': "export default { name: 'bad shape!', triggers: [], handler: 'not a function' };",
      '12-dup.yaml': yamlSkill('good'),
      '13-good.mjs': "export default { name: 'good-module', description: 'ok', triggers: ['^gm'] };",
      '14-missing-dep.mjs': "import 'no-such-package-anywhere';\nexport default {};",
    });
    const r = registry(dir, { log });
    await r.reload();

    expect(r.list().map((s) => s.name)).toEqual(['good', 'good-module']);
    const byFile = Object.fromEntries(r.errors().map((e) => [e.file, e]));
    expect(Object.keys(byFile)).toEqual([
      '02-not-yaml.yaml',
      '03-missing-prompt.yaml',
      '04-typo.yml',
      '05-bad-tool.yaml',
      '06-bad-regex.yaml',
      '07-redos.yaml',
      '08-syntax.mjs',
      '09-throws.mjs',
      '10-no-default.mjs',
      '11-bad-shape.js',
      '12-dup.yaml',
      '14-missing-dep.mjs',
    ]);
    expect(byFile['02-not-yaml.yaml']!.code).toBe(SkillErrorCode.yamlInvalid);
    expect(byFile['03-missing-prompt.yaml']).toMatchObject({ code: SkillErrorCode.invalid });
    expect(byFile['03-missing-prompt.yaml']!.message).toContain('system_prompt');
    expect(byFile['04-typo.yml']!.message).toContain('system_promt');
    expect(byFile['05-bad-tool.yaml']!.message).toMatch(/tools\[1\]/);
    expect(byFile['06-bad-regex.yaml']).toMatchObject({ code: SkillErrorCode.triggerInvalid });
    expect(byFile['06-bad-regex.yaml']!.message).toContain('does not compile');
    expect(byFile['07-redos.yaml']!.message).toContain('exponential');
    expect(byFile['08-syntax.mjs']).toMatchObject({ code: SkillErrorCode.moduleFailed });
    expect(byFile['08-syntax.mjs']!.message).toMatch(/import failed/);
    expect(byFile['09-throws.mjs']!.message).toContain('boom at import');
    expect(byFile['10-no-default.mjs']!.message).toContain('no default export');
    expect(byFile['11-bad-shape.js']!.message).toMatch(
      /name: .*description: .*triggers.*handler must be a function/,
    );
    expect(byFile['12-dup.yaml']).toMatchObject({ code: SkillErrorCode.duplicateName });
    expect(byFile['12-dup.yaml']!.message).toContain('01-good.yaml');
    expect(byFile['14-missing-dep.mjs']!.message).toContain('no-such-package-anywhere');

    // Each failure is logged once, naming the file and the reason.
    const errors = lines().filter((l) => l['log.level'] === 'error');
    expect(errors).toHaveLength(12);
    const syntax = errors.find((l) => String(l.message).includes('08-syntax.mjs'))!;
    expect(syntax.message).toMatch(/^skills: 08-syntax\.mjs not loaded: import failed/);
    expect(syntax.error).toMatchObject({ code: SkillErrorCode.moduleFailed });
    // A reload with nothing changed logs nothing new and re-imports nothing.
    await r.reload();
    expect(lines().filter((l) => l['log.level'] === 'error')).toHaveLength(12);
  });

  it('loads YAML only when module skills are turned off', async () => {
    const dir = skillsDir({ 'a.yaml': yamlSkill('alpha'), 'oncall.mjs': MODULE_SKILL });
    const r = registry(dir, { allowModules: false });
    await r.reload();
    expect(r.list().map((s) => s.name)).toEqual(['alpha']);
    expect(r.errors()).toEqual([
      { file: 'oncall.mjs', code: SkillErrorCode.modulesDisabled, message: expect.stringContaining('YAML') },
    ]);
  });

  it('treats a missing folder as no skills', async () => {
    const r = registry(join(tmpdir(), 'sb-no-such-skills-folder'));
    await r.start();
    expect(r.list()).toEqual([]);
    expect(r.errors()).toEqual([]);
  });
});

describe('SkillRegistry.match order', () => {
  it('tries higher priority first, then file name, then triggers in order', async () => {
    const dir = skillsDir({
      'a.yaml': 'name: a\ndescription: x\ntriggers: ["deploy"]\nsystem_prompt: x\n',
      'b.yaml': 'name: b\ndescription: x\ntriggers: ["deploy"]\nsystem_prompt: x\n',
      'c.yaml': 'name: c\ndescription: x\npriority: 5\ntriggers: ["^deploy now"]\nsystem_prompt: x\n',
      'd.yaml': 'name: d\ndescription: x\npriority: -1\ntriggers: ["."]\nsystem_prompt: x\n',
    });
    const r = registry(dir);
    await r.reload();
    expect(r.list().map((s) => s.name)).toEqual(['c', 'a', 'b', 'd']);
    expect(r.match('deploy now please', all(r))?.skill.name).toBe('c');
    expect(r.match('please deploy', all(r))?.skill.name).toBe('a');
    expect(r.match('anything else', all(r))?.skill.name).toBe('d');
    // Only the skills a route allows are matched: the others are passed over, whatever they say.
    expect(r.match('deploy now please', ['a', 'd'])?.skill.name).toBe('a');
    expect(r.match('deploy now please', ['d'])?.skill.name).toBe('d');
    expect(r.match('deploy now please', [])).toBeUndefined();
  });

  it('matches keywords on word boundaries, case-insensitively, and CJK keywords anywhere', async () => {
    const dir = skillsDir({
      'k.yaml':
        'name: k\ndescription: x\ntriggers: [{keyword: "disk  usage"}, {keyword: "c++"}, {keyword: "告警"}]\nsystem_prompt: x\n',
    });
    const r = registry(dir);
    await r.reload();
    expect(r.match('show DISK usage', all(r))?.match[0]).toBe('DISK usage');
    expect(r.match('show disk\n usage now', all(r))).toBeDefined();
    expect(r.match('diskusage', all(r))).toBeUndefined();
    expect(r.match('mydisk usage', all(r))).toBeUndefined();
    expect(r.match('is c++ fast', all(r))).toBeDefined();
    expect(r.match('最近有什么告警吗', all(r))).toBeDefined();
  });

  it('gives up on a trigger that backtracks too long and tries the next skill', async () => {
    const { log, lines } = capturedLogger('skills-test');
    const dir = skillsDir({
      // No nested quantifier, so the static check lets it through; only the time budget stops it.
      'a.yaml': 'name: slow\ndescription: x\ntriggers: ["^(a|a)*$"]\nsystem_prompt: x\n',
      'b.yaml': 'name: fallback\ndescription: x\ntriggers: ["a!"]\nsystem_prompt: x\n',
    });
    const r = registry(dir, { log });
    await r.reload();
    expect(r.match(`${'a'.repeat(40)}!`, all(r))?.skill.name).toBe('fallback');
    expect(lines().some((l) => String(l.message).includes('ran out of time'))).toBe(true);
  });
});

describe('SkillRegistry hot reload', () => {
  it('picks up added, changed and removed files without a restart', async () => {
    const dir = skillsDir({ 'a.yaml': yamlSkill('alpha') });
    const r = registry(dir);
    await r.start();
    expect(r.list().map((s) => s.name)).toEqual(['alpha']);

    let change = changeWhere(r, (c) => c.skills.includes('beta'));
    writeFileSync(join(dir, 'b.yaml'), yamlSkill('beta'));
    await change;
    expect(r.match('beta go', all(r))?.skill.name).toBe('beta');

    change = changeWhere(r, () => r.get('beta')?.description === 'Changed');
    writeFileSync(join(dir, 'b.yaml'), yamlSkill('beta').replace('The beta skill', 'Changed'));
    await change;

    // A changed module is imported again, not served from the module cache.
    change = changeWhere(r, (c) => c.skills.includes('mod'));
    writeFileSync(
      join(dir, 'm.mjs'),
      "export default { name: 'mod', description: 'v1', triggers: ['^mod'], async handler() { return 'v1'; } };",
    );
    await change;
    change = changeWhere(r, () => r.get('mod')?.description === 'v2');
    writeFileSync(
      join(dir, 'm.mjs'),
      "export default { name: 'mod', description: 'v2', triggers: ['^mod'], async handler() { return 'v2'; } };",
    );
    await change;
    const ctx = {
      text: 'mod',
      match: null,
      caller: {
        platform: 'web' as const,
        botId: 'b',
        conversationId: 'c',
        userId: 'u',
        messageId: 'm',
        traceId: 't',
      },
      signal: new AbortController().signal,
      log: console,
    };
    expect(await r.get('mod')!.handler!(ctx)).toBe('v2');

    change = changeWhere(r, (c) => !c.skills.includes('alpha'));
    unlinkSync(join(dir, 'a.yaml'));
    await change;
    expect(r.get('alpha')).toBeUndefined();
    expect(r.match('alpha go', all(r))).toBeUndefined();
    expect(r.list().map((s) => s.name)).toEqual(['beta', 'mod']);
  });

  it('reports a file broken by an edit, keeps its last good version and the others, and recovers', async () => {
    const dir = skillsDir({
      'a.yaml': yamlSkill('alpha'),
      'b.mjs': "export default { name: 'beta', description: 'ok', triggers: ['^beta'] };",
    });
    const r = registry(dir);
    await r.start();

    let change = changeWhere(r, (c) => c.errors.some((e) => e.file === 'b.mjs'));
    writeFileSync(
      join(dir, 'b.mjs'),
      "export default { name: 'beta', description: 'ok', triggers: ['^beta' ",
    );
    await change;
    expect(r.errors()).toEqual([
      {
        file: 'b.mjs',
        code: SkillErrorCode.moduleFailed,
        message: expect.stringContaining('still serving the version loaded before'),
      },
    ]);
    expect(r.list().map((s) => s.name)).toEqual(['alpha', 'beta']);

    // A new broken file next to them: reported, nothing else disturbed.
    change = changeWhere(r, (c) => c.errors.some((e) => e.file === 'c.yaml'));
    writeFileSync(join(dir, 'c.yaml'), 'name: [oops');
    await change;
    expect(r.errors().map((e) => [e.file, e.code])).toEqual([
      ['b.mjs', SkillErrorCode.moduleFailed],
      ['c.yaml', SkillErrorCode.yamlInvalid],
    ]);
    expect(r.list().map((s) => s.name)).toEqual(['alpha', 'beta']);

    change = changeWhere(r, (c) => c.errors.length === 0);
    writeFileSync(
      join(dir, 'b.mjs'),
      "export default { name: 'beta', description: 'fixed', triggers: ['^beta'] };",
    );
    unlinkSync(join(dir, 'c.yaml'));
    await change;
    expect(r.get('beta')?.description).toBe('fixed');
  });
});
