import { readFileSync } from 'node:fs';
import { builtinToolNames } from '@switchboard/core';
import { describe, expect, it } from 'vitest';
import { parseWorkflow } from './parse.ts';
import { renderTemplate } from './template.ts';

const limits = { tools: new Set<string>(builtinToolNames), models: false };

const base = (steps: string, trigger = 'webhook: {}') => `
name: t
trigger:
  ${trigger}
steps:
${steps}`;

describe('parseWorkflow', () => {
  it('accepts the seed workflow', () => {
    const text = readFileSync(
      new URL('../../../workspace/workflows/daily-report.yaml', import.meta.url),
      'utf8',
    );
    const r = parseWorkflow(text, limits);
    expect(r.ok ? r.workflow.steps.map((s) => s.id) : r.reason).toEqual(['disk', 'uptime', 'post']);
  });

  it('names the step and the field at fault', () => {
    const r = parseWorkflow(base('  - id: post\n    type: send_message\n    with: { text: hi }'), limits);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/steps\[0\] \(id "post"\)\.with\.channel/);
  });

  it('refuses a reference to a later or unknown step', () => {
    const r = parseWorkflow(
      base(
        '  - id: a\n    type: send_message\n    with: { channel: ops, text: "{{ steps.b.output }}" }\n' +
          '  - id: b\n    type: tool\n    with: { tool: shell, arguments: { command: date } }',
      ),
      limits,
    );
    expect(r.ok ? '' : r.reason).toMatch(/no step "b" runs before this point/);
  });

  it('refuses bad cron schedules, time zones, YAML, skill steps, unsafe patterns and disallowed tools', () => {
    const step = '  - id: a\n    type: tool\n    with: { tool: shell, arguments: { command: date } }';
    const reason = (text: string, l = limits) => {
      const r = parseWorkflow(text, l);
      return r.ok ? 'ok' : r.reason;
    };
    expect(reason(base(step, 'cron: { schedule: "61 * * * *" }'))).toMatch(
      /trigger\.cron\.schedule: .*minute/,
    );
    expect(reason(base(step, 'cron: { schedule: "0 9 * * *", timezone: Mars/Base }'))).toMatch(/time zone/);
    expect(reason('name: [unclosed')).toMatch(/not valid YAML/);
    expect(reason(base('  - id: a\n    type: skill\n    with: { skill: faq }'))).toMatch(/with\.text/);
    expect(reason(base('  - id: a\n    type: skill\n    with: { skill: faq, text: hello }'))).toBe('ok');
    expect(reason(base(step, 'message: { pattern: "(a+)+$" }'))).toMatch(/exponential/);
    expect(reason(base(step), { tools: new Set(['send_message']), models: false })).toMatch(
      /tool "shell" is not allowed/,
    );
    expect(reason(base('  - id: a\n    type: prompt\n    with: { prompt: hi }'))).toMatch(/MODEL_CHAIN/);
    expect(reason(base(step, 'cron: { schedule: "* * * * * *" }\n  webhook: {}'))).toMatch(/exactly one/);
  });
});

describe('renderTemplate', () => {
  const ctx = { steps: { a: { output: { stdout: 'hello', n: 3, list: ['x', 'y'] } } }, now: 'NOW' };

  it('renders paths inside text and keeps the type of a lone reference', () => {
    expect(renderTemplate('say {{ steps.a.output.stdout }} at {{now}}', ctx)).toBe('say hello at NOW');
    expect(renderTemplate({ n: '{{ steps.a.output.n }}', l: ['{{ steps.a.output.list[1] }}'] }, ctx)).toEqual(
      {
        n: 3,
        l: ['y'],
      },
    );
    expect(renderTemplate('{{ steps.a.output }}!', ctx)).toBe('{"stdout":"hello","n":3,"list":["x","y"]}!');
  });

  it('says what is missing', () => {
    expect(() => renderTemplate('{{ steps.a.output.nope }}', ctx)).toThrow(
      /steps\.a\.output has no "nope" \(it has: stdout, n, list\)/,
    );
    expect(() => renderTemplate('{{ steps.a.output.constructor }}', ctx)).toThrow(/has no "constructor"/);
  });
});
