import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type OutboundEnvelope, outboundEnvelopeSchema } from '@switchboard/core';
import amqplib from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServiceProcess, spawnService } from '../../scripts/lib/spawn-service.ts';
import { FAKE_BOT, type FakeTelegram, startFakeTelegram } from '../fakes/telegram/server.ts';
import { AMQP_URL, waitFor } from '../support/infra.ts';
import { startToolBed, type ToolBed } from './harness.ts';

const MAX_FILE = 2048;
const MAX_TOTAL = 3072;
const TG_BOT = String(FAKE_BOT.id);

/**
 * send_message with files: workspace files stored in the attachments table and referenced from the
 * outbound envelope, delivered by a real connector (Telegram, against its fake) as documents; every
 * refused file refuses the whole call, with nothing stored and nothing published.
 */
describe('send_message with files from the workspace', () => {
  let bed: ToolBed;
  let amqp: amqplib.ChannelModel;
  let ch: amqplib.Channel;
  let probe: string;
  let db: pg.Client;
  let outside: string;
  let tg: FakeTelegram;
  let connector: ServiceProcess | undefined;

  const put = async (path: string, data: Buffer | string) => {
    const abs = join(bed.home, path);
    await mkdir(dirname(abs), { recursive: true });
    await writeFile(abs, data);
    return Buffer.from(data);
  };
  /** Envelopes published so far (the call's answer comes after the broker confirmed its publish). */
  const published = async (): Promise<OutboundEnvelope[]> => {
    const out: OutboundEnvelope[] = [];
    for (;;) {
      const m = await ch.get(probe, { noAck: true });
      if (!m) return out;
      out.push(outboundEnvelopeSchema.parse(JSON.parse(m.content.toString())));
    }
  };
  const storedCount = async () =>
    Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM attachments')).rows[0]!.n);
  const stored = async (url: string) =>
    (
      await db.query<{ platform: string; sha256: string; name: string; mime_type: string; data: Buffer }>(
        'SELECT platform, sha256, name, mime_type, data FROM attachments WHERE id = $1',
        [url.slice('attachment://'.length)],
      )
    ).rows[0];

  beforeAll(async () => {
    outside = await realpath(await mkdtemp(join(tmpdir(), 'sb-outside-')));
    await writeFile(join(outside, 'secret.txt'), 'not for the channel');
    tg = await startFakeTelegram();
    bed = await startToolBed({
      TOOLS_ENABLED: 'files,send_message',
      SEND_MESSAGE_MAX_FILE_BYTES: String(MAX_FILE),
      SEND_MESSAGE_MAX_TOTAL_BYTES: String(MAX_TOTAL),
      CHANNELS_JSON: JSON.stringify({
        'ops-alerts': { platform: 'slack', botId: 'B01', conversationId: 'C123' },
        'on-call': { platform: 'telegram', botId: TG_BOT, conversationId: '4242' },
      }),
    });
    amqp = await amqplib.connect(AMQP_URL);
    ch = await amqp.createChannel();
    probe = (await ch.assertQueue('', { exclusive: true, autoDelete: true })).queue;
    await ch.bindQueue(probe, bed.broker.names.outbound, bed.broker.names.outboundKey('slack', 'B01'));
    await ch.bindQueue(probe, bed.broker.names.outbound, bed.broker.names.outboundKey('telegram', TG_BOT));
    db = new pg.Client({ connectionString: bed.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await connector?.kill('SIGTERM', 15_000);
    await ch?.deleteQueue(`${bed.topology.prefix}.out.telegram.${TG_BOT}`).catch(() => {});
    await ch?.close().catch(() => {});
    await amqp?.close().catch(() => {});
    await db?.end().catch(() => {});
    await bed?.stop();
    await tg?.close();
    if (outside) await rm(outside, { recursive: true, force: true });
  });

  it('stores each file and references it from the outbound envelope; the text may be empty', async () => {
    const w = await bed.call('files', {
      op: 'write',
      path: 'reports/disk.csv',
      content: 'host,used\ndb1,91%\n',
    });
    expect(w.ok, w.output).toBe(true);
    const csv = Buffer.from('host,used\ndb1,91%\n');
    const bin = await put('out/dump.bin', randomBytes(1500));

    const req = bed.request('send_message', {
      channel: 'ops-alerts',
      files: ['reports/disk.csv', 'out/dump.bin'],
    });
    const r = await bed.client.invoke(req);
    expect(r.ok, r.output).toBe(true);
    expect(r.output).toMatch(
      /^sent to ops-alerts \(slack\), 0 characters and 2 file\(s\): reports\/disk\.csv \(18 bytes, attachment:\/\/[0-9a-f-]{36}\), out\/dump\.bin \(1\.5 KiB, attachment:\/\/[0-9a-f-]{36}\)$/,
    );
    // The files are for the channel: they are not handed back to join the caller's own reply.
    expect(r.attachments).toEqual([]);

    const [env, ...more] = await published();
    expect(more).toEqual([]);
    expect(env).toMatchObject({ id: `tool:${req.id}`, platform: 'slack', conversationId: 'C123', text: '' });
    expect(env!.attachments).toEqual([
      { kind: 'file', name: 'disk.csv', mimeType: 'text/csv', size: csv.length, url: expect.any(String) },
      {
        kind: 'file',
        name: 'dump.bin',
        mimeType: 'application/octet-stream',
        size: bin.length,
        url: expect.any(String),
      },
    ]);
    for (const [a, bytes] of [
      [env!.attachments[0]!, csv],
      [env!.attachments[1]!, bin],
    ] as const) {
      expect(a.url).toMatch(/^attachment:\/\/[0-9a-f-]{36}$/);
      const row = await stored(a.url);
      expect(row).toMatchObject({ platform: 'tool', name: a.name, mime_type: a.mimeType });
      expect(row!.data.equals(bytes)).toBe(true);
      expect(row!.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });

  it('sends the same bytes under the name asked for, and images as images', async () => {
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      randomBytes(64),
    ]);
    await put('a/chart.png', png);
    await put('b/renamed.png', png);
    const first = await bed.call('send_message', {
      channel: 'ops-alerts',
      text: 'one',
      files: ['a/chart.png'],
    });
    const second = await bed.call('send_message', {
      channel: 'ops-alerts',
      text: 'two',
      files: ['b/renamed.png'],
    });
    expect(first.ok && second.ok, `${first.output} / ${second.output}`).toBe(true);
    const envs = await published();
    expect(envs.map((e) => e.attachments[0])).toMatchObject([
      { kind: 'image', name: 'chart.png', mimeType: 'image/png' },
      { kind: 'image', name: 'renamed.png', mimeType: 'image/png' },
    ]);
    // Stored once; the row (whose name the connector sends under) carries the latest name.
    expect(envs[0]!.attachments[0]!.url).toBe(envs[1]!.attachments[0]!.url);
    expect((await stored(envs[1]!.attachments[0]!.url))!.name).toBe('renamed.png');
  });

  it('refuses a file outside the workspace, missing, oversized, a directory or listed twice: nothing stored or published', async () => {
    await put('fine.txt', `fine ${randomBytes(8).toString('hex')}`);
    await put('big.bin', randomBytes(MAX_FILE + 1));
    await put('half-1.bin', randomBytes(1600));
    await put('half-2.bin', randomBytes(1600));
    await symlink(join(outside, 'secret.txt'), join(bed.home, 'leak.txt'));
    await mkdir(join(bed.home, 'somedir'), { recursive: true });
    const before = await storedCount();

    const cases: Array<[string[], string, RegExp]> = [
      [
        ['fine.txt', '../etc/passwd'],
        'TOOL_REFUSED',
        /^cannot attach "\.\.\/etc\/passwd": .*may not leave the workspace; nothing was sent$/,
      ],
      [['/etc/passwd'], 'TOOL_REFUSED', /^cannot attach "\/etc\/passwd": .*is absolute.*; nothing was sent$/],
      [
        ['fine.txt', 'leak.txt'],
        'TOOL_REFUSED',
        /^cannot attach "leak\.txt": leak\.txt leads out of the workspace through a symlink; nothing was sent$/,
      ],
      [
        ['fine.txt', 'missing.txt'],
        'TOOL_FAILED',
        /^cannot attach "missing\.txt": missing\.txt does not exist; nothing was sent$/,
      ],
      [
        ['big.bin'],
        'TOOL_REFUSED',
        /^cannot attach "big\.bin": it is 2049 bytes, over the 2048-byte limit for one file; nothing was sent$/,
      ],
      [
        ['half-1.bin', 'half-2.bin'],
        'TOOL_REFUSED',
        /^cannot attach "half-2\.bin": it would bring the files to 3\.1 KiB, over the 3\.0 KiB limit for all files of one message; nothing was sent$/,
      ],
      [['somedir'], 'TOOL_FAILED', /^cannot attach "somedir": somedir is a directory; nothing was sent$/],
      [
        ['fine.txt', './fine.txt'],
        'TOOL_REFUSED',
        /^cannot attach "\.\/fine\.txt": the file is listed twice; nothing was sent$/,
      ],
    ];
    for (const [files, code, message] of cases) {
      const r = await bed.call('send_message', { channel: 'ops-alerts', text: 'report', files });
      expect(r.ok, `${files.join(',')}: ${r.output}`).toBe(false);
      expect(r.error?.code, r.output).toBe(code);
      expect(r.error?.message).toMatch(message);
    }
    expect(await published()).toEqual([]);
    expect(await storedCount()).toBe(before);
  });

  it('refuses too many files and a message with neither text nor files as bad arguments', async () => {
    const six = await bed.call('send_message', {
      channel: 'ops-alerts',
      text: 'x',
      files: ['a', 'b', 'c', 'd', 'e', 'f'],
    });
    expect(six.error?.code).toBe('TOOL_BAD_ARGUMENTS');
    expect(six.error?.message).toContain('at most 5 files per message');
    const empty = await bed.call('send_message', { channel: 'ops-alerts', text: '  ' });
    expect(empty.error?.code).toBe('TOOL_BAD_ARGUMENTS');
    expect(empty.error?.message).toContain('send_message needs text, files or both');
    expect(await published()).toEqual([]);
  });

  it('is delivered by the Telegram connector: the text, then the file as a document', async () => {
    connector = await spawnService('ingress-telegram', {
      AMQP_URL,
      DATABASE_URL: bed.databaseUrl,
      BROKER_PREFIX: bed.topology.prefix,
      BROKER_PARTITIONS: '1',
      RETRY_DELAYS_MS: '100,200',
      MAX_ATTEMPTS: '2',
      LOG_LEVEL: 'info',
      HTTP_PORT: '0',
      SHUTDOWN_TIMEOUT_MS: '10000',
      TELEGRAM_BOT_TOKEN: tg.token,
      TELEGRAM_API_ROOT: tg.apiRoot,
      TELEGRAM_MODE: 'polling',
      TELEGRAM_POLL_TIMEOUT_S: '1',
    });
    await put('reports/weekly.csv', 'week,incidents\n19,2\n');
    const r = await bed.call('send_message', {
      channel: 'on-call',
      text: 'Weekly **report**',
      files: ['reports/weekly.csv'],
    });
    expect(r.ok, r.output).toBe(true);
    const doc = await waitFor('the document on Telegram', () =>
      tg.sent.find((m) => m.fileName === 'weekly.csv'),
    );
    expect(doc).toMatchObject({ method: 'sendDocument', chatId: '4242' });
    const text = tg.sent.find((m) => m.text === 'Weekly <b>report</b>');
    expect(text).toBeDefined();
    expect(tg.sent.indexOf(text!)).toBeLessThan(tg.sent.indexOf(doc));
    await published();
  });
});
