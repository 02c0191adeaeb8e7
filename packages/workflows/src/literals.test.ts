import { builtinToolNames } from '@switchboard/core';
import { describe, expect, it } from 'vitest';
import { fixedOrigin, guardRendered } from './literals.ts';
import { parseWorkflow } from './parse.ts';
import type { WorkflowStep } from './schema.ts';
import { renderTemplate } from './template.ts';

const limits = { tools: new Set<string>(builtinToolNames), models: false };
const reason = (steps: string, trigger = 'webhook: {}', extra = '') => {
  const r = parseWorkflow(`name: t\ntrigger:\n  ${trigger}\nsteps:\n${steps}\n${extra}`, limits);
  return r.ok ? 'ok' : r.reason;
};
const http = (url: string) => `  - id: h\n    type: http\n    with: { url: "${url}" }`;
const tool = (w: string) => `  - id: s\n    type: tool\n    with: ${w}`;

describe('fixedOrigin', () => {
  it.each([
    ['https://api.example.com/items/{{ trigger.body.id }}', 'https://api.example.com'],
    ['http://10.0.0.5:8080?q={{ trigger.body.q }}', 'http://10.0.0.5:8080'],
    ['https://[::1]:9000/x', 'https://[::1]:9000'],
    ['https://api.example.com', 'https://api.example.com'],
  ])('%s pins %s', (url, origin) => {
    expect(fixedOrigin(url)).toEqual({ ok: true, origin });
  });

  it.each([
    '{{ trigger.body.url }}',
    'https://{{ trigger.body.host }}/x',
    'https://api.example.com{{ trigger.body.rest }}',
    'https://api.example.com:{{ trigger.body.port }}/',
    '{{ trigger.body.scheme }}://api.example.com/',
    'https://user:pw@api.example.com/',
    'file:///etc/passwd',
    'https://api.example.com\\{{ trigger.body.x }}',
  ])('refuses %s', (url) => {
    expect(fixedOrigin(url).ok).toBe(false);
  });
});

describe('literal places, at parse time', () => {
  it('refuses a URL whose scheme or host is templated, in http steps and in http_fetch and browser', () => {
    expect(reason(http('https://{{ trigger.body.host }}/x'))).toMatch(
      /steps\[0\] \(id "h"\)\.with\.url: the scheme and host must be written out/,
    );
    expect(reason(tool('{ tool: http_fetch, arguments: { url: "{{ trigger.body.url }}" } }'))).toMatch(
      /with\.arguments\.url: the scheme and host/,
    );
    expect(reason(tool('{ tool: browser, arguments: { url: "http://{{ trigger.text }}" } }'))).toMatch(
      /with\.arguments\.url/,
    );
    expect(reason(http('https://api.example.com/q/{{ trigger.body.id }}'))).toBe('ok');
  });

  it('refuses templated tool names, shell programs, argument lists, channels and skills', () => {
    expect(reason(tool('{ tool: "{{ trigger.body.tool }}" }'))).toMatch(
      /with\.tool: the tool name must be written out/,
    );
    expect(reason(tool('{ tool: shell, arguments: { command: "{{ trigger.body.cmd }}" } }'))).toMatch(
      /with\.arguments\.command: the program of a shell step must be written out/,
    );
    expect(reason(tool('{ tool: shell, arguments: { command: "df {{ trigger.body.x }}" } }'))).toMatch(
      /the program of a shell step/,
    );
    expect(
      reason(tool('{ tool: shell, arguments: { command: df, args: "{{ trigger.body.args }}" } }')),
    ).toMatch(/with\.arguments\.args: must be a list/);
    expect(
      reason(tool('{ tool: shell, arguments: { command: df, args: ["{{ trigger.body.path }}"] } }')),
    ).toBe('ok');
    expect(reason(tool('{ tool: files, arguments: { op: "{{ trigger.body.op }}", path: a } }'))).toMatch(
      /arguments\.op: the files operation/,
    );
    expect(
      reason('  - id: m\n    type: send_message\n    with: { channel: "{{ trigger.body.c }}", text: hi }'),
    ).toMatch(/with\.channel: the channel must be written out/);
    expect(reason('  - id: k\n    type: skill\n    with: { skill: "{{ trigger.text }}", text: hi }')).toMatch(
      /with\.skill: the skill name/,
    );
    expect(
      reason(
        http('https://a.example/'),
        'webhook: {}',
        'on_failure:\n  send_message: { channel: "{{ now }}" }',
      ),
    ).toMatch(/on_failure\.send_message\.channel/);
    expect(
      reason('  - id: h\n    type: http\n    with: { url: "https://a.example/", headers: { Host: evil } }'),
    ).toMatch(/with\.headers\.Host: the header "Host" cannot be set/);
  });

  it('checks message trigger filters', () => {
    const step = tool('{ tool: shell, arguments: { command: date } }');
    expect(reason(step, 'message: { pattern: x, platforms: [slack], users: ["telegram:1"] }')).toMatch(
      /trigger\.message\.users\[0\]: "telegram:1" is on telegram, which this trigger does not listen to/,
    );
    expect(reason(step, 'message: { pattern: x, users: ["U1"] }')).toMatch(/<platform>:<user id>/);
    expect(reason(step, 'message: { pattern: x, users: ["irc:U1"] }')).toMatch(/starts with a platform/);
    expect(reason(step, 'message: { pattern: x, platform: web, platforms: [web] }')).toMatch(/not both/);
    expect(reason(step, 'message: { pattern: x, platforms: [slack, web], users: ["slack:U1"] }')).toBe('ok');
    // A bare channel id means nothing without its platform (a web client picks its conversation id).
    expect(reason(step, 'message: { pattern: x, channel: C123 }')).toMatch(
      /trigger\.message\.channel: a channel id means nothing without its platform/,
    );
    expect(reason(step, 'message: { pattern: x, platforms: [slack, web], channel: C123 }')).toMatch(
      /without its platform/,
    );
    expect(reason(step, 'message: { pattern: x, platforms: [web], channel: "slack:C123" }')).toMatch(
      /"slack:C123" is on slack, which this trigger does not listen to/,
    );
    expect(reason(step, 'message: { pattern: x, platform: slack, channel: C123 }')).toBe('ok');
    expect(reason(step, 'message: { pattern: x, channel: "telegram:-1001234" }')).toBe('ok');
  });
});

describe('guardRendered, at run time', () => {
  const parsed = (steps: string) => {
    const r = parseWorkflow(`name: t\ntrigger:\n  webhook: {}\nsteps:\n${steps}`, limits);
    if (!r.ok) throw new Error(r.reason);
    return r.workflow.steps[0]!;
  };
  const run = (step: WorkflowStep, ctx: Record<string, unknown>) =>
    guardRendered(step, { ...step, with: renderTemplate(step.with, ctx) } as WorkflowStep);

  it('keeps a rendered path on the origin the workflow names', () => {
    const step = parsed(http('https://api.example.com/items/{{ trigger.body.id }}'));
    const ok = run(step, { trigger: { body: { id: '@evil.net/x' } } });
    expect(ok.type === 'http' && new URL(ok.with.url).origin).toBe('https://api.example.com');
  });

  it('refuses a shell argument that renders to a list, and makes numbers text', () => {
    const step = parsed(
      tool('{ tool: shell, arguments: { command: echo, args: ["{{ trigger.body.a }}"] } }'),
    );
    expect(() => run(step, { trigger: { body: { a: ['-rf', '/'] } } })).toThrow(
      /^refused: with\.arguments\.args\[0\] of step s: a \{\{ … \}\} gave object, not text/,
    );
    const ok = run(step, { trigger: { body: { a: 7 } } });
    expect(ok.type === 'tool' && ok.with.arguments.args).toEqual(['7']);
  });

  it('refuses a step whose literal places hold a template (a definition that skipped validation)', () => {
    const step = parsed(http('https://api.example.com/'));
    const forged = { ...step, with: { ...step.with, url: '{{ trigger.body.url }}' } } as WorkflowStep;
    expect(() => run(forged, { trigger: { body: { url: 'http://127.0.0.1/' } } })).toThrow(
      /^refused: with\.url of step h: the scheme and host must be written out/,
    );
  });
});
