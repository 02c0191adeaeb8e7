/**
 * RabbitMQ alone, for comparison with the end-to-end numbers: persistent messages published with
 * publisher confirms to a durable queue at a fixed rate and consumed with manual ack (prefetch 64),
 * once on a quorum queue and once on a classic durable queue. Reports publish→deliver and
 * publish→confirm latency, measured from each message's scheduled send time (open loop).
 *
 *   npx tsx bench/broker-latency.ts --json [--rate 200] [--seconds 10]
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import amqplib from 'amqplib';
import { round, summarise } from './lib/stats.ts';

const { values: a } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    prefetch: { type: 'string', default: '64' },
    'payload-bytes': { type: 'string', default: '600' },
    help: { type: 'boolean', default: false },
  },
});
if (a.help) {
  console.log(`usage: npx tsx bench/broker-latency.ts [--json] [--rate 200] [--seconds 10] [--prefetch 64] [--payload-bytes 600]
AMQP_URL (default amqp://guest:guest@127.0.0.1:5672) selects the broker.`);
  process.exit(0);
}
const rate = Number(a.rate);
const seconds = Number(a.seconds);
const prefetch = Number(a.prefetch);
const payloadBytes = Number(a['payload-bytes']);
for (const [k, v] of Object.entries({ rate, seconds, prefetch, payloadBytes })) {
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`${k} must be a positive number`);
    process.exit(2);
  }
}
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const runId = randomBytes(4).toString('hex');
const say = (msg: string) => process.stderr.write(`[broker-latency] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const declared = new Set<string>();
async function deleteQueues(): Promise<void> {
  if (declared.size === 0) return;
  const conn = await amqplib.connect(AMQP_URL);
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  for (const q of declared) await ch.deleteQueue(q).catch(() => {});
  declared.clear();
  await ch.close().catch(() => {});
  await conn.close().catch(() => {});
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    say(`${sig}: deleting the temporary queues`);
    void deleteQueues().finally(() => process.exit(130));
  });
}

async function measure(queueType: 'quorum' | 'classic') {
  const queue = `benchlat${runId}.${queueType}`;
  const pubConn = await amqplib.connect(AMQP_URL);
  const subConn = await amqplib.connect(AMQP_URL);
  try {
    const pub = await pubConn.createConfirmChannel();
    const sub = await subConn.createChannel();
    declared.add(queue);
    await pub.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': queueType } });
    await sub.prefetch(prefetch);

    const total = Math.round(rate * seconds);
    const due = new Float64Array(total);
    const deliver: number[] = [];
    const confirm: number[] = [];
    let received = 0;
    let duplicates = 0;
    let nacked = 0;
    const seen = new Uint8Array(total);
    await sub.consume(
      queue,
      (msg) => {
        if (!msg) return;
        const now = performance.now();
        const k = Number(msg.properties.messageId);
        if (seen[k]) duplicates++;
        else {
          seen[k] = 1;
          received++;
          deliver.push(now - due[k]!);
        }
        sub.ack(msg);
      },
      { noAck: false },
    );

    const filler = 'x'.repeat(Math.max(0, payloadBytes - 40));
    const interval = 1000 / rate;
    const t0 = performance.now() + 20;
    for (let k = 0; k < total; ) {
      const d = t0 + k * interval;
      const now = performance.now();
      if (now < d) {
        await sleep(Math.max(1, Math.floor(d - now)));
        continue;
      }
      due[k] = d;
      const body = Buffer.from(JSON.stringify({ k, filler }));
      pub.sendToQueue(
        queue,
        body,
        { persistent: true, messageId: String(k), contentType: 'application/json' },
        (err) => {
          if (err) nacked++;
          else confirm.push(performance.now() - d);
        },
      );
      k++;
    }
    await pub.waitForConfirms().catch(() => {});
    const deadline = performance.now() + 10_000;
    while (received < total && performance.now() < deadline) await sleep(20);

    const dl = summarise(deliver);
    const cf = summarise(confirm);
    await pub.deleteQueue(queue).catch(() => {});
    declared.delete(queue);
    return {
      sent: total,
      received,
      lost: total - received,
      duplicated: duplicates,
      nacked,
      p50_ms: round(dl.p50, 2),
      p95_ms: round(dl.p95, 2),
      p99_ms: round(dl.p99, 2),
      max_ms: round(dl.max, 2),
      confirm_p50_ms: round(cf.p50, 2),
      confirm_p99_ms: round(cf.p99, 2),
    };
  } finally {
    await pubConn.close().catch(() => {});
    await subConn.close().catch(() => {});
  }
}

let code = 0;
try {
  const result: Record<string, unknown> = {
    rate,
    seconds,
    prefetch,
    payload_bytes: payloadBytes,
    node: process.version,
  };
  for (const t of ['quorum', 'classic'] as const) {
    say(`${t}: ${Math.round(rate * seconds)} messages at ${rate}/s`);
    const r = await measure(t);
    say(`${t}: p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, lost ${r.lost}`);
    result[t] = r;
    if (r.lost > 0 || r.duplicated > 0 || r.nacked > 0) code = 1;
  }
  if (a.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else console.log(JSON.stringify(result, null, 2));
} catch (err) {
  say(`error: ${(err as Error).stack ?? String(err)}`);
  code = 2;
} finally {
  await deleteQueues().catch(() => {});
}
process.exit(code);
