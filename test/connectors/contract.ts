import { randomBytes } from 'node:crypto';
import amqplib from 'amqplib';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeLlm } from '../fakes/llm/server.ts';
import { startConnectorTestbed, stopConnectorTestbed } from '../support/connector-testbed.ts';
import { AMQP_URL, waitFor } from '../support/infra.ts';
import type { ServiceProcess, TestStack } from '../support/stack.ts';
import type { ConnectorHarness, FakePlatform, SentMessage } from './harness.ts';

const CODE_LINES = Array.from({ length: 120 }, (_, i) => `echo "line ${i} of the script"`);

/** A reply long enough to need several messages on every platform, with a code block to keep intact. */
function longReply(limit: number): string {
  const paragraph = 'This paragraph explains the next step of the runbook in plain words. '.repeat(8);
  const paragraphs = Math.ceil((limit * 1.2) / paragraph.length);
  return [
    '# Runbook',
    ...Array.from({ length: paragraphs }, (_, i) => `${i + 1}. ${paragraph}`),
    `\`\`\`bash\n${CODE_LINES.join('\n')}\n\`\`\``,
    'Done.',
  ].join('\n\n');
}

const unique = (what: string) => `${what}${randomBytes(4).toString('hex')}`;

/**
 * The behaviour every connector promises, run against each platform's harness: the real connector
 * service and agent-worker on real RabbitMQ and PostgreSQL, the platform faked at its API.
 */
export function connectorContract(h: ConnectorHarness, o: { serviceEnv?: Record<string, string> } = {}) {
  describe(`connector contract: ${h.platform}`, () => {
    let llm: FakeLlm;
    let stack: TestStack;
    let fake: FakePlatform;
    let svc: ServiceProcess;
    let db: pg.Pool;

    const repliesContaining = (s: string) => fake.sent().filter((m) => m.text.includes(s));
    const waitReply = (s: string, timeoutMs = 20_000) =>
      waitFor(
        `a reply containing "${s}" at the fake ${h.platform}`,
        () => repliesContaining(s)[0],
        timeoutMs,
      ).catch((err) => {
        throw new Error(`${(err as Error).message}\n${stack.dumpLogs(30)}`);
      });

    beforeAll(async () => {
      fake = await h.startFake();
      ({ llm, stack, svc, db } = await startConnectorTestbed(`ingress-${h.platform}`, {
        SEND_ATTEMPTS: '2',
        MAX_RETRY_AFTER_MS: '5000',
        GROUP_POLICY: 'mention',
        ...fake.serviceEnv(),
        ...o.serviceEnv,
      }));
      await fake.attach?.(svc);
    });
    afterAll(async () => {
      await stopConnectorTestbed({ llm, stack, db });
      await fake?.close();
    });

    it('answers a direct message at the platform API', async () => {
      const word = unique('hello');
      await fake.sendUserMessage({ chat: 'direct', userId: 'u-direct', text: `say ${word}` });
      const [reply] = await waitReply(`echo: say ${word}`).then((m) => [m]);
      expect(reply).toBeDefined();
      // The person is stored once, with our own id, and the envelope carried it to the worker.
      const { rows } = await db.query(
        `SELECT ui.user_id FROM user_identities ui
         JOIN messages m ON m.user_id = ui.external_id AND m.role = 'user' AND m.content = $2
         WHERE ui.platform = $1`,
        [h.platform, `say ${word}`],
      );
      expect(rows).toHaveLength(1);
    });

    it("formats the reply in the platform's dialect", async () => {
      const word = unique('fmt');
      llm.setRules([{ match: { contains: word }, reply: `Here is **${word}** for you.` }]);
      await fake.sendUserMessage({ chat: 'direct', userId: 'u-format', text: `format ${word}` });
      const reply = await waitReply(word);
      expect(reply.text).toContain(h.bold(word));
      llm.setRules([]);
    });

    it('splits a long reply within the limit without breaking the code block', async () => {
      const word = unique('long');
      llm.setRules([{ match: { contains: word }, reply: `${word}\n\n${longReply(h.textLimit)}` }]);
      await fake.sendUserMessage({ chat: 'direct', chatId: `c-${word}`, userId: 'u-long', text: word });
      await waitReply(word);
      const parts = await waitFor('the last part ("Done.")', () => {
        const start = fake.sent().findIndex((m) => m.text.includes(word));
        const rest = fake.sent().slice(start);
        const end = rest.findIndex((m) => m.text.includes('Done.'));
        return end >= 0 ? rest.slice(0, end + 1) : undefined;
      });
      llm.setRules([]);
      expect(parts.length).toBeGreaterThanOrEqual(3);
      for (const p of parts) {
        expect(p.text.length).toBeLessThanOrEqual(h.textLimit);
        // Every part renders on its own: code fences and <pre> blocks are closed where they open.
        expect((p.text.match(/```/g) ?? []).length % 2).toBe(0);
        expect((p.text.match(/<pre>|<pre /g) ?? []).length).toBe((p.text.match(/<\/pre>/g) ?? []).length);
      }
      const all = parts.map((p) => p.text).join('\n');
      for (const line of CODE_LINES) expect(all).toContain(line);
    });

    it('refuses a bad or missing signature with 401 and publishes nothing', async () => {
      const bad = unique('forged');
      const status = await fake.sendWithBadSignature({ chat: 'direct', userId: 'u-sig', text: bad });
      if (status === undefined) {
        // Gateway platforms have no webhook to forge; their harness checks a bad token at start.
        return;
      }
      expect(status).toBe(401);
      const good = unique('genuine');
      await fake.sendUserMessage({ chat: 'direct', userId: 'u-sig', text: good });
      await waitReply(`echo: ${good}`);
      expect(repliesContaining(bad)).toHaveLength(0);
      const { rows } = await db.query('SELECT 1 FROM messages WHERE content LIKE $1', [`%${bad}%`]);
      expect(rows).toHaveLength(0);
    });

    it('answers a delivery the platform repeats only once', async () => {
      const word = unique('twice');
      const first = await fake.sendUserMessage({ chat: 'direct', userId: 'u-dup', text: word });
      const again = await fake.redeliver(first.id);
      if (again.status !== undefined) expect(again.status).toBe(200);
      await waitReply(`echo: ${word}`);
      // And once more after the answer went out: still one answer.
      await fake.redeliver(first.id);
      const marker = unique('after');
      await fake.sendUserMessage({ chat: 'direct', userId: 'u-dup', text: marker });
      await waitReply(`echo: ${marker}`);
      expect(repliesContaining(`echo: ${word}`)).toHaveLength(1);
    });

    it('retries a reply through 429 and 5xx and delivers it', async () => {
      for (const kind of ['rate_limit', 'server_error'] as const) {
        const word = unique(kind.replace('_', ''));
        const callsBefore = fake.sendCalls();
        fake.failNextSends(2, kind);
        await fake.sendUserMessage({ chat: 'direct', userId: 'u-retry', text: word });
        await waitReply(`echo: ${word}`, 30_000);
        expect(fake.sendCalls() - callsBefore).toBeGreaterThanOrEqual(3);
        expect(repliesContaining(`echo: ${word}`)).toHaveLength(1);
      }
    });

    it('parks a reply that keeps failing, with the reason', async () => {
      const word = unique('doomed');
      fake.failNextSends(1_000, 'server_error');
      await fake.sendUserMessage({ chat: 'direct', userId: 'u-park', text: word });
      const conn = await amqplib.connect(AMQP_URL);
      try {
        const ch = await conn.createChannel();
        const parked = await waitFor(
          'the reply in the parking queue',
          async () => {
            const m = await ch.get(`${stack.prefix}.parking`, { noAck: true });
            if (!m) return undefined;
            const body = JSON.parse(m.content.toString()) as { kind?: string; text?: string };
            return body.kind === 'outbound' && body.text?.includes(word) ? m : undefined;
          },
          30_000,
        );
        const headers = parked.properties.headers ?? {};
        expect(String(headers['x-sb-parking-reason'])).toMatch(new RegExp(h.platform, 'i'));
        expect(String(headers['x-sb-error-code'])).toBe('SB_ERR_PLATFORM_API_FAILED');
        expect(String(headers['x-sb-origin-queue'])).toContain(`.out.${h.platform}.`);
      } finally {
        fake.failNextSends(0, 'server_error');
        await conn.close();
      }
      expect(repliesContaining(word)).toHaveLength(0);
    });

    it('ignores a group message without a mention under the mention policy, answers one with it', async () => {
      const quiet = unique('chatter');
      const loud = unique('question');
      await fake.sendUserMessage({ chat: 'group', userId: 'u-group', text: quiet, mention: false });
      await fake.sendUserMessage({ chat: 'group', userId: 'u-group', text: loud, mention: true });
      await waitReply(`echo: ${loud}`);
      expect(repliesContaining(quiet)).toHaveLength(0);
      const { rows } = await db.query('SELECT 1 FROM messages WHERE content LIKE $1', [`%${quiet}%`]);
      expect(rows).toHaveLength(0);
    });
  });
}

export type { SentMessage };
