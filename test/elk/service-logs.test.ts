import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, spawnService } from '../../scripts/lib/spawn-service.ts';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { TelegramUpdates } from '../fakes/telegram/harness.ts';
import { type FakeTelegram, startFakeTelegram } from '../fakes/telegram/server.ts';
import { AMQP_URL, waitFor } from '../support/infra.ts';
import { type ServiceProcess, TestStack } from '../support/stack.ts';
import { postMessage } from '../support/web-client.ts';
import { expectEcsLines, expectNoSecrets, field, type LogLine } from './ecs-lines.ts';

/** The trace id an ingress gave the message it accepted with this id. */
function traceOf(svc: ServiceProcess, messageId: string): string | undefined {
  for (const raw of svc.logs) {
    if (!raw.includes(messageId)) continue;
    const line = JSON.parse(raw) as LogLine;
    if (field(line, 'labels.message_id') === messageId) return field(line, 'trace.id') as string;
  }
  return undefined;
}

/** The output of a service that refused to start; `fatal` is runMain's own last line about it. */
function splitStartFailure(service: string, err: Error | undefined): { ecs: string[]; fatal: string[] } {
  // A bad URL either ends the process or keeps it retrying, not ready; both are refusals.
  expect(err?.message, `${service} should have refused to start`).toMatch(
    /exited during start|did not become ready in time/,
  );
  const lines = err!.message.split('\n').slice(1).filter(Boolean);
  // runMain writes the start failure through the logger too: every line, the last included, is ECS.
  const fatal = lines.filter((l) => l.includes('failed to start'));
  return { ecs: lines, fatal };
}

const secret = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`;

/**
 * What Filebeat ships and Kibana searches is exactly what the services print, so the real services
 * run here (real RabbitMQ and PostgreSQL, model and Telegram faked at their APIs), a message goes
 * through each path, and every line they wrote is checked: valid ECS, trace.id on lines about a
 * message, and none of the configured secrets anywhere.
 */
describe('service logs: ECS, traceable, free of secrets', () => {
  const SECRETS = {
    OPENAI_API_KEY: secret('sk-proj-'),
    TELEGRAM_BOT_TOKEN: `7000001:${secret('AAH')}`,
    TELEGRAM_WEBHOOK_SECRET: secret('whsec'),
    WRONG_DB_PASSWORD: secret('dbpw'),
    WRONG_AMQP_PASSWORD: secret('mqpw'),
  };
  let llm: FakeLlm;
  let tg: FakeTelegram;
  let stack: TestStack;
  let telegram: ServiceProcess;
  const updates = new TelegramUpdates();
  /** Service name → every line it wrote, taken once the message paths have run. */
  const captured = new Map<string, string[]>();
  const all = () => [...captured.entries()];
  const withLogs = (err: Error): never => {
    throw new Error(`${err.message}\n${stack.dumpLogs(30)}`);
  };
  const secrets = () => ({ ...SECRETS, API_TOKEN: stack.token });

  beforeAll(async () => {
    llm = await startFakeLlm({ apiKey: SECRETS.OPENAI_API_KEY });
    tg = await startFakeTelegram({ token: SECRETS.TELEGRAM_BOT_TOKEN });
    stack = await new TestStack({
      workers: 1,
      tools: true,
      workerEnv: {
        MODEL_CHAIN: 'openai/fake-small',
        OPENAI_BASE_URL: `${llm.url}/v1`,
        OPENAI_API_KEY: SECRETS.OPENAI_API_KEY,
        MODEL_RETRIES: '0',
      },
    }).start();
    telegram = await stack.startService('ingress-telegram', {
      TELEGRAM_BOT_TOKEN: SECRETS.TELEGRAM_BOT_TOKEN,
      TELEGRAM_API_ROOT: tg.apiRoot,
      TELEGRAM_MODE: 'webhook',
      TELEGRAM_WEBHOOK_SECRET: SECRETS.TELEGRAM_WEBHOOK_SECRET,
    });
    const queue = /"reply_queue":"([^"]+)"/.exec(telegram.logs.join('\n'))?.[1];
    if (queue) stack.extraQueues.push(queue);
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
    await tg?.close();
    await llm?.close();
  });

  it('answers over HTTP and Telegram, and a failing model call, with traceable ECS lines', async () => {
    const word = secret('ecs');
    const res = await postMessage(stack.web.url, stack.token, {
      conversationId: `c-${word}`,
      text: `say ${word}`,
    });
    expect(res.status).toBe(202);
    const webTrace = await waitFor('the web turn committed under the trace id of its intake', () => {
      const t = traceOf(stack.web, String(res.body.id));
      return t && stack.workers[0]!.logs.some((l) => l.includes('turn committed') && l.includes(t)) && t;
    }).catch(withLogs);

    const tgWord = secret('tg');
    const update = updates.message({ chat: 'direct', userId: 'u-ecs', text: `say ${tgWord}` });
    const url = `${telegram.url}/telegram/webhook`;
    expect(await tg.deliverWebhook(update, { url, secret: SECRETS.TELEGRAM_WEBHOOK_SECRET })).toBe(200);
    await waitFor('the Telegram reply', () => tg.sent.some((s) => s.text.includes(tgWord))).catch(withLogs);

    // A forged delivery whose header contains the real secret: refused, and not echoed into a log.
    const forged = updates.message({ chat: 'direct', userId: 'u-forger', text: 'forged' });
    expect(await tg.deliverWebhook(forged, { url, secret: `${SECRETS.TELEGRAM_WEBHOOK_SECRET}x` })).toBe(401);

    // A model call that fails: the worker logs the failure of a request that carried the key.
    const failWord = secret('fail');
    llm.setRules([{ match: { contains: failWord }, fault: '500' }]);
    const failed = await postMessage(stack.web.url, stack.token, {
      conversationId: `c-${failWord}`,
      text: failWord,
    });
    expect(failed.status).toBe(202);
    const failTrace = await waitFor('the model failure in the worker log', () => {
      const t = traceOf(stack.web, String(failed.body.id));
      return t && stack.workers[0]!.logs.some((l) => l.includes('model call failed') && l.includes(t)) && t;
    }).catch(withLogs);
    llm.setRules([]);

    for (const svc of [stack.web, telegram, ...stack.workers, stack.toolRunner!]) {
      captured.set(svc.name, [...svc.logs]);
    }
    for (const [name, lines] of all()) {
      const parsed = expectEcsLines(name, lines, {
        alsoFrom: name === 'tool-runner' ? ['tool-sandbox'] : [],
      });
      // A line about a message is one that names its conversation or its outcome; it must carry the id.
      const aboutMessage = (l: LogLine) =>
        field(l, 'labels.conversation') !== undefined || field(l, 'event.outcome') !== undefined;
      for (const l of parsed.filter(aboutMessage)) {
        expect(field(l, 'trace.id'), `${name}: ${JSON.stringify(l)}`).toBeTypeOf('string');
      }
    }

    const workerLines = expectEcsLines('agent-worker', captured.get('agent-worker')!);
    const committed = workerLines.filter((l) => l.message === 'turn committed');
    const webTurn = committed.find((l) => field(l, 'trace.id') === webTrace);
    expect(webTurn, 'the web turn is logged with its message id as trace.id').toBeDefined();
    expect(field(webTurn, 'labels.platform')).toBe('web');
    expect(field(webTurn, 'event.duration')).toBeTypeOf('number');
    const tgTurn = committed.find((l) => field(l, 'labels.platform') === 'telegram');
    expect(field(tgTurn, 'trace.id')).toBeTypeOf('string');
    // The same id shows up in the ingress that received it: one search finds the whole path.
    const tgLines = expectEcsLines('ingress-telegram', captured.get('ingress-telegram')!);
    expect(tgLines.some((l) => field(l, 'trace.id') === field(tgTurn, 'trace.id'))).toBe(true);
    const failure = workerLines.find((l) => l.message === 'model call failed');
    expect(field(failure, 'trace.id')).toBe(failTrace);
    expect(field(failure, 'log.level')).toBe('warn');

    for (const [name, lines] of all()) {
      expectNoSecrets(name, lines, secrets());
      // The test database's own password sits in every service's DATABASE_URL.
      const dbPassword = new URL(stack.databaseUrl).password;
      for (const raw of lines) expect(raw, name).not.toContain(`:${dbPassword}@`);
    }
  }, 90_000);

  it('keeps a wrong bot token out of the log of a connector that cannot start', async () => {
    const wrongToken = `7000001:${secret('AAHwrong')}`;
    const err = await stack
      .startService('ingress-telegram', {
        TELEGRAM_BOT_TOKEN: wrongToken,
        TELEGRAM_API_ROOT: tg.apiRoot,
        TELEGRAM_MODE: 'webhook',
        TELEGRAM_WEBHOOK_SECRET: SECRETS.TELEGRAM_WEBHOOK_SECRET,
      })
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    const { ecs, fatal } = splitStartFailure('ingress-telegram', err);
    expectEcsLines('ingress-telegram', ecs);
    expect([...ecs, ...fatal].some((l) => /getMe failed.*401/i.test(l))).toBe(true);
    expectNoSecrets('ingress-telegram (bad token)', [...ecs, ...fatal], { ...secrets(), wrongToken });
  }, 60_000);

  it('keeps the password of a bad DATABASE_URL or AMQP_URL out of the start-up log', async () => {
    // Nothing listens on this port, so the connection fails the way a mistyped host does.
    const db = new URL(stack.databaseUrl);
    db.port = String(await freePort());
    db.password = SECRETS.WRONG_DB_PASSWORD;
    const mq = new URL(AMQP_URL);
    mq.password = SECRETS.WRONG_AMQP_PASSWORD;
    const cases: Array<Record<string, string>> = [
      { DATABASE_URL: db.toString() },
      { AMQP_URL: mq.toString() },
    ];
    for (const env of cases) {
      const err = await spawnService(
        'ingress-web',
        { ...stack.baseEnv, API_TOKENS: stack.token, ...env },
        {
          readyTimeoutMs: 8_000,
        },
      ).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      const { ecs, fatal } = splitStartFailure('ingress-web', err);
      expectEcsLines('ingress-web', ecs, { mayBeEmpty: true });
      expect([...fatal, ...ecs].join('\n')).toMatch(/ECONNREFUSED|ACCESS.REFUSED/);
      expectNoSecrets(`ingress-web (${Object.keys(env)[0]} wrong)`, [...ecs, ...fatal], secrets());
    }
  }, 120_000);
});
