/**
 * Item 10.3: a Slack event names its files' URLs, and the connector fetches them with the bot
 * token. A URL that is not Slack's file host (nor the configured Web API's origin, which is where
 * the fake serves files) is refused before any connection: the token never leaves, the message is
 * still answered, and the user is told which file could not be read.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeLlm } from '../fakes/llm/server.ts';
import type { SlackFileObject } from '../fakes/slack/events.ts';
import { type FakeSlack, messageEvent, startFakeSlack } from '../fakes/slack/server.ts';
import { startConnectorTestbed, stopConnectorTestbed } from '../support/connector-testbed.ts';
import { waitFor } from '../support/infra.ts';
import type { ServiceProcess, TestStack } from '../support/stack.ts';

describe('slack: the bot token goes only to Slack file hosts', () => {
  let llm: FakeLlm;
  let stack: TestStack;
  let fake: FakeSlack;
  let svc: ServiceProcess;
  let db: pg.Pool;
  let collector: Server;
  let collectorUrl: string;
  const collected: IncomingHttpHeaders[] = [];

  const posted = (s: string) => fake.api.posted.filter((p) => p.text.includes(s));
  const replyContaining = (s: string) =>
    waitFor(`a Slack reply containing "${s}"`, () => posted(s)[0]).catch((err) => {
      throw new Error(`${(err as Error).message}\n${stack.dumpLogs(30)}`);
    });

  beforeAll(async () => {
    // A server that would happily collect a token: it must never be asked for anything.
    collector = createServer((req, res) => {
      collected.push(req.headers);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('collected');
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    collectorUrl = `http://127.0.0.1:${(collector.address() as { port: number }).port}`;
    fake = await startFakeSlack();
    ({ llm, stack, svc, db } = await startConnectorTestbed('ingress-slack', {
      SLACK_BOT_TOKEN: fake.id.botToken,
      SLACK_SIGNING_SECRET: fake.signingSecret,
      SLACK_API_URL: fake.apiUrl,
    }));
  });
  afterAll(async () => {
    await stopConnectorTestbed({ llm, stack, db });
    await fake?.close();
    await new Promise((r) => collector?.close(r));
  });

  it('refuses a file URL on another host: no request, the text answered, the user told', async () => {
    const file: SlackFileObject = {
      id: 'F0EVIL',
      name: 'quarterly.pdf',
      title: 'quarterly.pdf',
      mimetype: 'application/pdf',
      filetype: 'pdf',
      size: 10,
      url_private: `${collectorUrl}/files-pri/T0-F0EVIL/quarterly.pdf`,
      url_private_download: `${collectorUrl}/files-pri-download/T0-F0EVIL/quarterly.pdf`,
    };
    const good = fake.api.addUserFile('notes.txt', 'text/plain', Buffer.from('genuine slack file\n'));
    const payload = fake.envelope(
      messageEvent({
        channel: 'D0MALLORY',
        channelType: 'im',
        user: 'U0MALLORY',
        text: 'summarise these',
        subtype: 'file_share',
        files: [file, good],
      }),
    );
    expect((await fake.postEvent(`${svc.url}/slack/events`, payload)).status).toBe(200);

    const notice = await replyContaining('quarterly.pdf');
    expect(notice.text).toMatch(/could not read quarterly\.pdf \(it is not a file the platform hosts\)/);
    await replyContaining('echo: summarise these');
    await waitFor('the refusal in the log', () =>
      svc.logs.some((l) => l.includes('attachment refused') && l.includes('is not hosted by Slack')),
    );

    // Nothing reached the collector, so no token either; only Slack's own file was stored.
    expect(collected).toEqual([]);
    const { rows } = await db.query('SELECT name FROM attachments WHERE platform = $1 ORDER BY name', [
      'slack',
    ]);
    expect(rows.map((r) => r.name)).toEqual(['notes.txt']);
    for (const line of svc.logs) expect(line).not.toContain(fake.id.botToken);
  });
});
