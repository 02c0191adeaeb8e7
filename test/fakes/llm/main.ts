import { parseArgs } from 'node:util';
import { startFakeLlm } from './server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '11435' },
    host: { type: 'string', default: '127.0.0.1' },
    'latency-ms': { type: 'string', default: '0' },
    'no-record': { type: 'boolean', default: false },
    models: { type: 'string' },
    'accept-any-model': { type: 'boolean', default: false },
    'api-key': { type: 'string' },
  },
  strict: true,
});

function toNumber(name: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0) {
    process.stderr.write(`--${name} must be a number >= 0, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return n;
}

const fake = await startFakeLlm({
  port: toNumber('port', values.port),
  host: values.host,
  latencyMs: toNumber('latency-ms', values['latency-ms']),
  recordCalls: !values['no-record'],
  acceptAnyModel: values['accept-any-model'],
  ...(values.models === undefined ? {} : { models: values.models.split(',').map((m) => m.trim()) }),
  ...(values['api-key'] === undefined ? {} : { apiKey: values['api-key'] }),
});

// One line of JSON so that scripts can wait for it and read the URL.
process.stdout.write(`${JSON.stringify({ url: fake.url })}\n`);

function shutdown(): void {
  fake.close().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`fake-llm: close failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
