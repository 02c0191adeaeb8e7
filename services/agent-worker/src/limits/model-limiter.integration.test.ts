import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@switchboard/core';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../../../../test/support/infra.ts';
import type { ChatModel } from '../models/provider.ts';
import { ModelCallError } from '../models/provider.ts';
import { parseModelLimits } from './config.ts';
import { LimitError, LimitErrorCode } from './errors.ts';
import { limitedModel } from './limited-model.ts';
import { ModelLimiter } from './model-limiter.ts';
import { createRedis } from './redis.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./limiter-hammer.fixture.ts', import.meta.url));
const log = createLogger('limits-test', 'error');

interface Call {
  admittedAt: number;
  start: number;
  end: number;
  waited: number;
  worker: number;
}

/** One stand-in worker process with its own Redis connection. */
class Hammer {
  readonly out: string[] = [];
  readonly proc: ChildProcess;
  private buffered = '';

  constructor(
    readonly worker: number,
    env: Record<string, string>,
  ) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', REDIS_URL, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const onData = (chunk: Buffer) => {
      this.buffered += chunk.toString();
      const lines = this.buffered.split('\n');
      this.buffered = lines.pop() ?? '';
      this.out.push(...lines.filter(Boolean));
    };
    this.proc.stdout!.on('data', onData);
    this.proc.stderr!.on('data', onData);
  }

  said(line: string): boolean {
    if (this.out.includes(line)) return true;
    if (this.proc.exitCode !== null) throw new Error(`hammer ${this.worker} exited:\n${this.out.join('\n')}`);
    return false;
  }

  go(): void {
    this.proc.stdin!.write('go\n');
  }

  calls(): Call[] {
    return this.out.filter((l) => l.startsWith('{')).map((l) => ({ ...JSON.parse(l), worker: this.worker }));
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

/** Starts the workers, releases them together, and collects every call they made. */
async function hammer(count: number, env: Record<string, string>, timeoutMs = 30_000): Promise<Call[]> {
  const workers = Array.from({ length: count }, (_, i) => new Hammer(i, env));
  try {
    await waitFor('hammers ready', () => workers.every((w) => w.said('ready')), 20_000);
    for (const w of workers) w.go();
    await waitFor('hammers done', () => workers.every((w) => w.said('done')), timeoutMs);
    return workers.flatMap((w) => w.calls());
  } finally {
    for (const w of workers) w.kill();
  }
}

/** The most slots held at one instant, and whether two workers held slots at the same time. */
function peak(calls: Call[]): { max: number; crossWorker: boolean } {
  const events = calls.flatMap((c) => [
    { t: c.start, d: 1, w: c.worker },
    { t: c.end, d: -1, w: c.worker },
  ]);
  // At equal times count the start first: the larger (stricter) reading.
  events.sort((a, b) => a.t - b.t || b.d - a.d);
  let now = 0;
  let max = 0;
  let crossWorker = false;
  const perWorker = new Map<number, number>();
  for (const e of events) {
    now += e.d;
    perWorker.set(e.w, (perWorker.get(e.w) ?? 0) + e.d);
    max = Math.max(max, now);
    if ([...perWorker.values()].filter((n) => n > 0).length > 1) crossWorker = true;
  }
  return { max, crossWorker };
}

describe('parseModelLimits', () => {
  it('reads budgets per model or pattern, with colons in model names', () => {
    expect(
      parseModelLimits(
        'openai/gpt-4o-mini:rps=2,concurrency=3; ollama/qwen2.5:0.5b:concurrency=1;ollama/*:rpm=120;x:rps=0.5',
      ),
    ).toEqual([
      { pattern: 'openai/gpt-4o-mini', rate: 2, windowMs: 1_000, concurrency: 3 },
      { pattern: 'ollama/qwen2.5:0.5b', concurrency: 1 },
      { pattern: 'ollama/*', rate: 120, windowMs: 60_000 },
      { pattern: 'x', rate: 1, windowMs: 2_000 },
    ]);
    expect(parseModelLimits('')).toEqual([]);
  });

  it('refuses malformed specs with the entry named', () => {
    for (const [spec, why] of [
      ['openai/gpt-4o', /expected model:option=value/],
      ['a:rps=2,burst=3', /"burst=3" is not/],
      ['a:rps=0', /not rps=N|positive/],
      ['a:concurrency=1.5', /whole number/],
      ['a:rps=1,rpm=60', /not both/],
      ['a:rps=1;a:concurrency=2', /listed twice/],
    ] as const) {
      expect(() => parseModelLimits(spec), spec).toThrow(why);
    }
  });
});

describe('ModelLimiter on Redis', () => {
  let redis: Redis;
  let prefix: string;

  beforeAll(async () => {
    redis = createRedis(REDIS_URL, log, 'limits-test');
    await redis.connect();
  });
  afterEach(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  });
  afterAll(() => redis?.disconnect());

  const limiter = (limits: string, o: { maxWaitMs?: number; leaseMs?: number; prefix?: string } = {}) => {
    prefix = o.prefix ?? uniqueName('sbtl');
    return new ModelLimiter(redis, {
      prefix,
      rules: parseModelLimits(limits),
      maxWaitMs: o.maxWaitMs ?? 10_000,
      leaseMs: o.leaseMs ?? 15_000,
      log,
    });
  };

  it('holds the request rate across two worker processes', async () => {
    prefix = uniqueName('sbtl');
    const calls = await hammer(2, {
      PREFIX: prefix,
      LIMITS: 'fake/rated:rps=10',
      MODEL: 'fake/rated',
      CALLERS: '3',
      CALLS: '5',
    });
    expect(calls).toHaveLength(30);
    const admitted = calls.map((c) => c.admittedAt).sort((a, b) => a - b);
    // Never more than 10 admissions inside any one second, on the shared (Redis) clock.
    for (let i = 0; i + 10 < admitted.length; i++) {
      expect(admitted[i + 10]! - admitted[i]!, `calls ${i} and ${i + 10}`).toBeGreaterThanOrEqual(999.99);
    }
    // They waited rather than failed: 30 calls at 10 per second span at least two seconds.
    expect(admitted.at(-1)! - admitted[0]!).toBeGreaterThanOrEqual(2_000);
    // Both processes were admitted within one window, so the budget was truly shared.
    const shared = calls.some((a) =>
      calls.some(
        (b) => b.worker !== a.worker && b.admittedAt >= a.admittedAt && b.admittedAt < a.admittedAt + 1_000,
      ),
    );
    expect(shared).toBe(true);
  });

  it('holds the concurrency limit across two worker processes', async () => {
    prefix = uniqueName('sbtl');
    const calls = await hammer(2, {
      PREFIX: prefix,
      LIMITS: 'fake/*:concurrency=3',
      MODEL: 'fake/conc',
      CALLERS: '5',
      CALLS: '4',
      HOLD_MS: '40',
    });
    expect(calls).toHaveLength(40);
    const { max, crossWorker } = peak(calls);
    expect(max).toBeLessThanOrEqual(3);
    // The limit was reached, with slots held by both processes at once.
    expect(max).toBe(3);
    expect(crossWorker).toBe(true);
    expect(calls.some((c) => c.waited > 5)).toBe(true);
  });

  it('frees the slots of a worker that died holding them once their leases expire', async () => {
    prefix = uniqueName('sbtl');
    const crashed = new Hammer(0, {
      PREFIX: prefix,
      LIMITS: 'fake/crash:concurrency=2',
      MODEL: 'fake/crash',
      CALLERS: '2',
      LEASE_MS: '3000',
      HOLD_FOREVER: '1',
    });
    try {
      await waitFor('the doomed worker to hold both slots', () => crashed.said('held'), 20_000);
      crashed.kill();
      const l = limiter('fake/crash:concurrency=2', { leaseMs: 3_000, prefix });
      // Still held right after the crash…
      const err = await l.acquire('fake/crash', { maxWaitMs: 100 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LimitError);
      expect((err as LimitError).code).toBe(LimitErrorCode.waitExceeded);
      // …and free once the leases ran out, without anyone releasing them.
      const release = await l.acquire('fake/crash', { maxWaitMs: 10_000 });
      const second = await l.acquire('fake/crash', { maxWaitMs: 10_000 });
      await release();
      await second();
    } finally {
      crashed.kill();
    }
  });

  it('renews the lease of a long call, so its slot is not handed out meanwhile', async () => {
    const l = limiter('slow/model:concurrency=1', { leaseMs: 1_500 });
    const held = await l.acquire('slow/model');
    // Waits past two lease lengths: only the renewals keep the slot taken.
    const err = await l.acquire('slow/model', { maxWaitMs: 3_500 }).catch((e: unknown) => e);
    expect((err as LimitError).code).toBe(LimitErrorCode.waitExceeded);
    expect((err as LimitError).message).toMatch(/slow\/model: its limit \(1 at once\) stayed saturated/);
    await held();
    const next = await l.acquire('slow/model', { maxWaitMs: 1_000 });
    await next();
  });

  it('waits for a free slot rather than failing, and gives up at its deadline or on abort', async () => {
    const l = limiter('m/one:concurrency=1');
    const first = await l.acquire('m/one');
    // The holder finishes its call 200 ms from now; the next caller waits for it, then gets the slot.
    const started = performance.now();
    const releaseLater = setTimeout(() => void first(), 200);
    const second = await l.acquire('m/one', { maxWaitMs: 5_000 });
    clearTimeout(releaseLater);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(second.waitedMs).toBeGreaterThanOrEqual(190);
    const ac = new AbortController();
    const aborted = l.acquire('m/one', { signal: ac.signal, maxWaitMs: 5_000 });
    ac.abort(new Error('turn cancelled'));
    await expect(aborted).rejects.toThrow(/turn cancelled/);
    await second();
    // Releasing twice frees nothing extra.
    await second();
    expect(await redis.zcard(`${prefix}:modellimit:m/one:inflight`)).toBe(0);
  });

  it('lets unlimited models through without touching Redis, and picks the most specific budget', async () => {
    const l = limiter('openai/*:concurrency=5;openai/gpt-4o*:rps=3;openai/gpt-4o-mini:concurrency=1');
    expect(l.ruleFor('ollama/qwen2.5:0.5b')).toBeUndefined();
    expect(l.ruleFor('openai/gpt-4o-mini')?.pattern).toBe('openai/gpt-4o-mini');
    expect(l.ruleFor('openai/gpt-4o')?.pattern).toBe('openai/gpt-4o*');
    expect(l.ruleFor('openai/o3')?.pattern).toBe('openai/*');
    const free = await l.acquire('ollama/qwen2.5:0.5b');
    expect(free.admittedAtMs).toBe(0);
    await free();
    expect(await redis.keys(`${prefix}:*`)).toEqual([]);
  });

  it('goes ahead without a limit when Redis is unreachable', async () => {
    const down = createRedis('redis://127.0.0.1:1', log, 'limits-test-down');
    down.connect().catch(() => {});
    try {
      const l = new ModelLimiter(down, {
        prefix: 'sbtl-down',
        rules: parseModelLimits('m/x:concurrency=1'),
        maxWaitMs: 1_000,
        leaseMs: 1_000,
        log,
      });
      const started = performance.now();
      const a = await l.acquire('m/x');
      const b = await l.acquire('m/x');
      expect(performance.now() - started).toBeLessThan(5_000);
      await a();
      await b();
    } finally {
      down.disconnect();
    }
  });

  it('makes a saturated model read as rate limited to the model chain', async () => {
    const l = limiter('fake/busy:concurrency=1', { maxWaitMs: 100 });
    let calls = 0;
    const inner: ChatModel = {
      provider: 'ollama',
      model: 'busy',
      label: 'fake/busy',
      async chat() {
        calls++;
        return { content: 'ok' };
      },
    };
    const model = limitedModel(inner, l);
    const held = await l.acquire('fake/busy');
    const err = await model
      .chat([{ role: 'user', content: 'hi' }], AbortSignal.timeout(5_000))
      .catch((e) => e);
    expect(err).toBeInstanceOf(ModelCallError);
    expect((err as ModelCallError).reason).toBe('rate_limited');
    expect(calls).toBe(0);
    await held();
    expect(await model.chat([{ role: 'user', content: 'hi' }], AbortSignal.timeout(5_000))).toEqual({
      content: 'ok',
    });
    expect(calls).toBe(1);
    // The slot went back after the call.
    expect(await redis.zcard(`${prefix}:modellimit:fake/busy:inflight`)).toBe(0);
    // A model without a budget is passed through as it is.
    expect(limitedModel({ ...inner, label: 'other/model' }, l).chat).toBe(inner.chat);
  });
});
