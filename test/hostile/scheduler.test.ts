/**
 * Item 8: the scheduler. `http` steps go through the tool-runner's egress policy and guarded agent
 * (@switchboard/egress): internal, loopback and metadata addresses are refused on the address
 * connected to, whatever name or redirect led there. What a step does is literal in the workflow:
 * trigger data fills paths, arguments and text, never a URL's scheme or host, a tool name or a
 * shell program. Message triggers never start a run for a stranger and honour their filters.
 *
 * Real scheduler processes (test/workflows/harness.ts: PostgreSQL, RabbitMQ, Redis, a fake
 * tool-runner on the real RPC), and local servers that record every request they get. Only the
 * "allowed" servers are on the scheduler's EGRESS_ALLOWLIST, as test/tools allowlists its site.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { ENVELOPE_VERSION, type InboundEnvelope, newTraceId } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceProcess } from '../../scripts/lib/spawn-service.ts';
import { uniqueName, waitFor } from '../support/infra.ts';
import { WorkflowTestbed } from '../workflows/harness.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A server that records every request it gets and answers through `answer`. */
async function recorder(
  host: '127.0.0.1' | '::1',
  answer: (url: string, res: ServerResponse) => void = (_u, res) => res.writeHead(200).end('recorded'),
): Promise<{ port: number; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => answer(req.url ?? '', res));
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { port: (server.address() as { port: number }).port, seen, server };
}

const webhook = (name: string, steps: string) => `name: ${name}\ntrigger:\n  webhook: {}\nsteps:\n${steps}\n`;
const httpStep = (url: string, extra = '') =>
  `  - id: call\n    type: http\n    with: { url: "${url}"${extra} }\n    retry: { attempts: 3, backoff_ms: 50 }`;

describe('hostile: scheduler http steps, literal step targets and message triggers', () => {
  const bed = new WorkflowTestbed();
  let scheduler: ServiceProcess;
  /** Allowlisted: the permitted side. */
  let allowed: Awaited<ReturnType<typeof recorder>>;
  let other: Awaited<ReturnType<typeof recorder>>;
  /** Not allowlisted: must never see a request. */
  let target: Awaited<ReturnType<typeof recorder>>;
  let target6: Awaited<ReturnType<typeof recorder>>;

  beforeAll(async () => {
    target = await recorder('127.0.0.1');
    target6 = await recorder('::1');
    other = await recorder('127.0.0.1');
    allowed = await recorder('127.0.0.1', (url, res) => {
      if (url === '/redirect')
        res.writeHead(302, { location: `http://127.0.0.1:${target.port}/stolen` }).end();
      else if (url === '/redirect-localhost')
        res.writeHead(307, { location: `http://localhost:${target.port}/stolen` }).end();
      else if (url === '/redirect-metadata')
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      else if (url === '/hop')
        res.writeHead(302, { location: `http://127.0.0.1:${other.port}/landing` }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: url }));
    });
    const A = `http://127.0.0.1:${allowed.port}`;
    await bed.start({
      'items.yaml': webhook('items', httpStep(`${A}/items/{{ trigger.body.id }}`)),
      'to-loopback.yaml': webhook('to-loopback', httpStep(`http://127.0.0.1:${target.port}/hit`)),
      'to-v6.yaml': webhook('to-v6', httpStep(`http://[::1]:${target6.port}/hit`)),
      'to-metadata.yaml': webhook('to-metadata', httpStep('http://169.254.169.254/latest/meta-data/')),
      'to-localhost.yaml': webhook('to-localhost', httpStep(`http://localhost:${target.port}/hit`)),
      'via-redirect.yaml': webhook('via-redirect', httpStep(`${A}/redirect`)),
      'via-redirect-localhost.yaml': webhook('via-redirect-localhost', httpStep(`${A}/redirect-localhost`)),
      'via-redirect-metadata.yaml': webhook('via-redirect-metadata', httpStep(`${A}/redirect-metadata`)),
      'hop.yaml': webhook('hop', httpStep(`${A}/hop`, ', headers: { x-secret: s3cr3t }')),
      'bad-url.yaml': webhook('bad-url', httpStep('{{ trigger.body.url }}')),
      'bad-host.yaml': webhook('bad-host', httpStep(`http://{{ trigger.body.host }}:${allowed.port}/x`)),
      'bad-port.yaml': webhook('bad-port', httpStep(`http://127.0.0.1{{ trigger.body.rest }}`)),
      'bad-tool.yaml': webhook(
        'bad-tool',
        '  - id: t\n    type: tool\n    with: { tool: "{{ trigger.body.tool }}", arguments: { command: date } }',
      ),
      'bad-shell.yaml': webhook(
        'bad-shell',
        '  - id: t\n    type: tool\n    with: { tool: shell, arguments: { command: "{{ trigger.body.cmd }}" } }',
      ),
      'bad-args.yaml': webhook(
        'bad-args',
        '  - id: t\n    type: tool\n    with: { tool: shell, arguments: { command: echo, args: "{{ trigger.body.args }}" } }',
      ),
      'echo-arg.yaml': webhook(
        'echo-arg',
        '  - id: t\n    type: tool\n    with: { tool: shell, arguments: { command: echo, args: ["{{ trigger.body.arg }}"] } }',
      ),
      'ops-any.yaml': [
        'name: ops-any',
        'trigger:',
        '  message: { pattern: "^ops (\\\\w+)$" }',
        'steps:',
        '  - id: note',
        '    type: send_message',
        '    with: { channel: ops, text: "ops {{ trigger.match[1] }} by {{ trigger.user.id }}" }',
        '',
      ].join('\n'),
      'slack-channel.yaml': [
        'name: slack-channel',
        'trigger:',
        '  message: { pattern: "^incident$", channel: "slack:C-OPS" }',
        'steps:',
        '  - id: note',
        '    type: send_message',
        '    with: { channel: ops, text: "incident in {{ trigger.platform }}:{{ trigger.conversation_id }}" }',
        '',
      ].join('\n'),
      'slack-u1.yaml': [
        'name: slack-u1',
        'trigger:',
        '  message: { pattern: "^deploy now$", platforms: [slack], users: ["slack:U1"] }',
        'steps:',
        '  - id: note',
        '    type: send_message',
        '    with: { channel: ops, text: "deploy by {{ trigger.platform }}:{{ trigger.user.id }}" }',
        '',
      ].join('\n'),
    });
    scheduler = await bed.spawnScheduler({
      EGRESS_ALLOWLIST: `127.0.0.1:${allowed.port},127.0.0.1:${other.port}`,
      HTTP_STEP_MAX_REDIRECTS: '3',
      LOG_LEVEL: 'debug',
    });
  }, 120_000);

  afterAll(async () => {
    expect(await bed.stop()).toEqual([0]);
    for (const s of [allowed, other, target, target6]) s?.server.close();
  }, 60_000);

  const trigger = async (name: string, body: Record<string, unknown> = {}) => {
    const res = await bed.api(scheduler, `/workflows/${name}/trigger`, { method: 'POST', body });
    expect(res.status).toBe(202);
    return String(res.body.run_id);
  };
  const finished = (name: string, runId: string) =>
    waitFor(`the ${name} run to finish`, async () => {
      const r = (await bed.runs(name)).find((x) => x.id === runId);
      return r && (r.status === 'succeeded' || r.status === 'failed') ? r : undefined;
    });

  it('refuses http steps aimed at 127.0.0.1, ::1, the metadata address and a name resolving to loopback; once, unretried', async () => {
    const cases: Array<[string, RegExp]> = [
      [
        'to-loopback',
        /^refused: GET http:\/\/127\.0\.0\.1:\d+: 127\.0\.0\.1 is a loopback address; workflow http steps may not reach/,
      ],
      ['to-v6', /^refused: GET http:\/\/\[::1\]:\d+: ::1 is a loopback address/],
      [
        'to-metadata',
        /^refused: GET http:\/\/169\.254\.169\.254: 169\.254\.169\.254 is a cloud metadata address, which workflow http steps may never reach/,
      ],
      [
        'to-localhost',
        /^refused: GET http:\/\/localhost:\d+: localhost \((127\.0\.0\.1|::1)\) is a loopback address/,
      ],
    ];
    for (const [name, reason] of cases) {
      const run = await finished(name, await trigger(name));
      expect(run).toMatchObject({ status: 'failed', failed_step: 'call' });
      const steps = await bed.stepRows(String(run.id));
      // A refusal is final: one attempt although the step allows three.
      expect(steps.map((s) => [s.step_id, s.attempt, s.status])).toEqual([['call', 1, 'failed']]);
      expect(String(steps[0]!.error)).toMatch(reason);
    }
    expect(target.seen).toEqual([]);
    expect(target6.seen).toEqual([]);
  });

  it('refuses a redirect from an allowed server to loopback, localhost or metadata; the target sees nothing', async () => {
    const cases: Array<[string, RegExp]> = [
      [
        'via-redirect',
        /^refused: the redirect to http:\/\/127\.0\.0\.1:\d+: 127\.0\.0\.1 is a loopback address/,
      ],
      [
        'via-redirect-localhost',
        /^refused: the redirect to http:\/\/localhost:\d+: localhost \(.+\) is a loopback address/,
      ],
      [
        'via-redirect-metadata',
        /^refused: the redirect to http:\/\/169\.254\.169\.254: .*cloud metadata address/,
      ],
    ];
    for (const [name, reason] of cases) {
      const run = await finished(name, await trigger(name));
      expect(run.status).toBe('failed');
      const steps = await bed.stepRows(String(run.id));
      expect(steps).toHaveLength(1);
      expect(String(steps[0]!.error)).toMatch(reason);
    }
    expect(allowed.seen.map((s) => s.url)).toEqual(
      expect.arrayContaining(['/redirect', '/redirect-localhost', '/redirect-metadata']),
    );
    expect(target.seen).toEqual([]);
  });

  it('reaches an allowlisted server, and a redirect to another origin does not carry the workflow headers', async () => {
    const ok = await finished('items', await trigger('items', { id: 'a1' }));
    expect(ok.status).toBe('succeeded');
    const [row] = await bed.stepRows(String(ok.id));
    expect(row!.output).toMatchObject({ status: 200, json: { path: '/items/a1' } });

    const hop = await finished('hop', await trigger('hop'));
    expect(hop.status).toBe('succeeded');
    expect(allowed.seen.find((s) => s.url === '/hop')?.headers['x-secret']).toBe('s3cr3t');
    const landed = other.seen.find((s) => s.url === '/landing');
    expect(landed).toBeDefined();
    expect(landed!.headers['x-secret']).toBeUndefined();
  });

  it('keeps a webhook body from moving the URL: its value lands in the path of the named host', async () => {
    for (const id of [
      `@127.0.0.1:${target.port}/x`,
      `//127.0.0.1:${target.port}/`,
      '../../..%2F@localhost',
    ]) {
      const run = await finished('items', await trigger('items', { id }));
      expect(run.status).toBe('succeeded');
    }
    expect(allowed.seen.map((s) => s.url)).toEqual(
      expect.arrayContaining([`/items/@127.0.0.1:${target.port}/x`, `/items///127.0.0.1:${target.port}/`]),
    );
    expect(target.seen).toEqual([]);
  });

  it('refuses at load a URL, tool name or shell program a trigger could fill; triggering them changes nothing', async () => {
    const listed = await bed.api(scheduler, '/workflows');
    expect(listed.status).toBe(200);
    const problems = listed.body.problems as Array<{ ref: string; reason: string }>;
    const reason = (file: string) => problems.find((p) => p.ref.endsWith(file))?.reason;
    expect(reason('bad-url.yaml')).toMatch(
      /steps\[0\] \(id "call"\)\.with\.url: the scheme and host must be written out/,
    );
    expect(reason('bad-host.yaml')).toMatch(/with\.url: the scheme and host must be written out/);
    expect(reason('bad-port.yaml')).toMatch(/with\.url: the scheme and host must be written out/);
    expect(reason('bad-tool.yaml')).toMatch(/with\.tool: the tool name must be written out/);
    expect(reason('bad-shell.yaml')).toMatch(
      /with\.arguments\.command: the program of a shell step must be written out/,
    );
    expect(reason('bad-args.yaml')).toMatch(/with\.arguments\.args: must be a list written in the workflow/);
    const names = (listed.body.workflows as Array<{ name: string }>).map((w) => w.name);
    for (const name of ['bad-url', 'bad-host', 'bad-port', 'bad-tool', 'bad-shell', 'bad-args']) {
      expect(names).not.toContain(name);
      const res = await bed.api(scheduler, `/workflows/${name}/trigger`, {
        method: 'POST',
        body: {
          url: `http://127.0.0.1:${target.port}/`,
          host: '127.0.0.1',
          tool: 'shell',
          cmd: 'rm',
          args: ['-rf', '/'],
        },
      });
      expect(res.status).toBe(404);
      expect(await bed.runs(name)).toEqual([]);
    }
    expect(bed.calls.filter((c) => c.tool === 'shell' && c.arguments.command !== 'echo')).toEqual([]);
    expect(target.seen).toEqual([]);
  });

  it('passes a trigger value to a shell step as one argument only; a list from the body is refused at run time', async () => {
    const bad = await finished('echo-arg', await trigger('echo-arg', { arg: ['-rf', '/'] }));
    expect(bad.status).toBe('failed');
    const [row] = await bed.stepRows(String(bad.id));
    expect(String(row!.error)).toMatch(
      /^refused: with\.arguments\.args\[0\] of step t: a \{\{ … \}\} gave object, not text/,
    );
    expect(bed.calls.filter((c) => c.tool === 'shell')).toEqual([]);

    const ok = await finished('echo-arg', await trigger('echo-arg', { arg: '; rm -rf / && reboot' }));
    expect(ok.status).toBe('succeeded');
    const calls = bed.calls.filter((c) => c.tool === 'shell');
    expect(calls.map((c) => c.arguments)).toEqual([{ command: 'echo', args: ['; rm -rf / && reboot'] }]);
  });

  describe('message triggers', () => {
    const publish = async (
      platform: InboundEnvelope['platform'],
      user: string,
      text: string,
      admitted?: 'allowlisted' | 'paired' | 'open',
      conversation?: string,
    ) => {
      const id = `${platform}:${uniqueName('m')}`;
      await bed.broker.publishInbound({
        v: ENVELOPE_VERSION,
        kind: 'inbound',
        id,
        platform,
        botId: 'bot',
        conversationId: conversation ?? `c-${user}`,
        user: { id: user, ...(admitted ? { admitted } : {}) },
        text,
        attachments: [],
        receivedAt: new Date().toISOString(),
        traceId: newTraceId(),
      });
      return id;
    };
    /** The scheduler's last word on one message: every delivery ends in exactly one of these lines. */
    const outcome = (id: string) =>
      waitFor(`the scheduler to handle ${id}`, () => {
        const line = scheduler.logs.find(
          (l) =>
            l.includes(`"message_id":"${id}"`) &&
            /message trigger: (no workflow matches|the sender is a stranger|run queued|run exists already)/.test(
              l,
            ),
        );
        return line?.match(/message trigger: [^"]+/)?.[0];
      });
    const pair = (platform: string, user: string) =>
      bed.db.query(
        `INSERT INTO paired_users (platform, external_id, approved_by) VALUES ($1, $2, 'admin:test')`,
        [platform, user],
      );
    const sentTexts = () => bed.sent().map((m) => m.text);

    it("never fires for a stranger's message, even one the connector let through under STRANGER_MODE=open", async () => {
      expect(await outcome(await publish('telegram', 'stranger-1', 'ops restart', 'open'))).toMatch(
        /the sender is a stranger; no workflow runs/,
      );
      // Claiming to be paired is not being paired: the store is asked.
      expect(await outcome(await publish('telegram', 'stranger-2', 'ops restart', 'paired'))).toMatch(
        /the sender is a stranger/,
      );
      // Paired but blocked now: a stranger too.
      await pair('telegram', 'blocked-1');
      await bed.db.query(
        `INSERT INTO pairing_blocklist (platform, external_id, until, reason) VALUES ('telegram', 'blocked-1', now() + interval '1 hour', 'test')`,
      );
      expect(await outcome(await publish('telegram', 'blocked-1', 'ops restart'))).toMatch(
        /the sender is a stranger/,
      );
      expect(await bed.runs('ops-any')).toEqual([]);
      expect(sentTexts().filter((t) => t.startsWith('ops '))).toEqual([]);

      // The same trigger fires for a paired user, an allowlisted one, and an authenticated web caller.
      await pair('telegram', 'friend-1');
      expect(await outcome(await publish('telegram', 'friend-1', 'ops restart', 'open'))).toMatch(
        /run queued/,
      );
      expect(await outcome(await publish('slack', 'U-allow', 'ops reload', 'allowlisted'))).toMatch(
        /run queued/,
      );
      expect(await outcome(await publish('web', 'w-1', 'ops status'))).toMatch(/run queued/);
      await waitFor('three ops runs to succeed', async () => {
        const runs = await bed.runs('ops-any');
        return runs.length === 3 && runs.every((r) => r.status === 'succeeded');
      });
      expect(
        sentTexts()
          .filter((t) => t.startsWith('ops '))
          .sort(),
      ).toEqual(['ops reload by U-allow', 'ops restart by friend-1', 'ops status by w-1']);
    });

    it('honours the platform, user and channel filters', async () => {
      await pair('slack', 'U1');
      await pair('slack', 'U2');
      await pair('telegram', 'U1');
      // Another user on the right platform, the right user id on another platform: no match.
      expect(await outcome(await publish('slack', 'U2', 'deploy now'))).toMatch(/no workflow matches/);
      expect(await outcome(await publish('telegram', 'U1', 'deploy now'))).toMatch(/no workflow matches/);
      expect(await bed.runs('slack-u1')).toEqual([]);
      expect(await outcome(await publish('slack', 'U1', 'deploy now'))).toMatch(/run queued/);
      await waitFor('the slack-u1 run to succeed', async () => {
        const runs = await bed.runs('slack-u1');
        return runs.length === 1 && runs[0]!.status === 'succeeded';
      });
      expect(sentTexts().filter((t) => t.startsWith('deploy by'))).toEqual(['deploy by slack:U1']);

      // A web client choosing the Slack channel's id as its conversation id is not in that channel.
      expect(await outcome(await publish('web', 'w-2', 'incident', undefined, 'C-OPS'))).toMatch(
        /no workflow matches/,
      );
      expect(await bed.runs('slack-channel')).toEqual([]);
      expect(await outcome(await publish('slack', 'U2', 'incident', undefined, 'C-OPS'))).toMatch(
        /run queued/,
      );
      await waitFor('the slack-channel run to succeed', async () => {
        const runs = await bed.runs('slack-channel');
        return runs.length === 1 && runs[0]!.status === 'succeeded';
      });
      expect(sentTexts().filter((t) => t.startsWith('incident'))).toEqual(['incident in slack:C-OPS']);
    });
  });
});
