import { EventEmitter } from 'node:events';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { SecretsError, SecretsErrorCodes } from './errors.ts';

export interface SecretsProviderOptions {
  log: Logger;
  /** Keys that must be present for the provider to be ready. */
  required?: string[];
  /** Keys read when present (the env backend reads only required + optional keys). */
  optional?: string[];
  /** How often values are read again while healthy. */
  refreshMs: number;
  /** First retry delay after a failure; doubles up to retryMaxMs. */
  retryMinMs?: number;
  retryMaxMs: number;
}

export type SecretsChangeListener = (value: string | undefined) => void;

/**
 * Values from a backend, cached in memory, read again on a timer and on {@link refresh} (SIGHUP).
 * A failed read never throws out of the background loop: it marks the provider not ready, keeps the
 * last good values, and retries with exponential backoff.
 *
 * Events: 'change' (key) after a key's value changed, appeared or disappeared; 'ready' and
 * 'unready' (SecretsError) when readiness flips.
 */
export abstract class SecretsProvider extends EventEmitter {
  abstract readonly backend: 'env' | 'vault';
  protected readonly log: Logger;
  private values = new Map<string, string>();
  private loaded = false;
  private lastError: SecretsError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<string[]> | undefined;
  private queued: Promise<string[]> | undefined;
  private failures = 0;
  private running = false;
  private stopped = false;
  private readonly required: string[];
  protected readonly optional: string[];

  constructor(protected readonly opts: SecretsProviderOptions) {
    super();
    this.log = opts.log;
    this.required = opts.required ?? [];
    this.optional = opts.optional ?? [];
  }

  /** Reads every value from the backend. Throws SecretsError (or CONFIG_INVALID) on failure. */
  protected abstract fetch(): Promise<Map<string, string>>;

  /** Called once by stop(); backends release timers and connections here. */
  protected async close(): Promise<void> {}

  /**
   * Starts the background loop and returns at once: the provider starts NOT ready and becomes ready
   * after the first successful read. Use {@link whenReady} to wait for it with a deadline.
   */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.refresh().catch(() => {});
  }

  /** Resolves when the first read succeeded; rejects with the last error after timeoutMs. */
  whenReady(timeoutMs = 60_000): Promise<void> {
    if (this.isReady()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(t);
        this.off('ready', done);
        resolve();
      };
      const t = setTimeout(() => {
        this.off('ready', done);
        reject(
          this.lastError ??
            new SecretsError(SecretsErrorCodes.NOT_READY, `secrets not loaded after ${timeoutMs} ms`, true),
        );
      }, timeoutMs);
      this.on('ready', done);
    });
  }

  isReady(): boolean {
    return this.loaded && this.lastError === undefined;
  }

  /** The reason the provider is not ready, if it is not. */
  get error(): SecretsError | undefined {
    if (this.lastError) return this.lastError;
    if (!this.loaded) return new SecretsError(SecretsErrorCodes.NOT_READY, 'secrets not loaded yet', true);
    return undefined;
  }

  /** A ReadinessCheck for createServiceHttp({ readiness: { secrets: provider.readiness } }). */
  readonly readiness = (): void => {
    const err = this.error;
    if (err) throw err;
  };

  /** The cached value; last good value while the backend is unavailable. */
  get(key: string): string | undefined {
    return this.values.get(key);
  }

  /** The cached value, or a NOT_READY / NOT_FOUND error naming the key (never its value). */
  require(key: string): string {
    const v = this.values.get(key);
    if (v !== undefined) return v;
    if (!this.loaded)
      throw new SecretsError(SecretsErrorCodes.NOT_READY, `secret ${key}: not loaded yet`, true);
    throw new SecretsError(
      SecretsErrorCodes.NOT_FOUND,
      `secret ${key}: not set in the ${this.backend} backend`,
      false,
    );
  }

  keys(): string[] {
    return [...this.values.keys()].sort();
  }

  /** Calls cb with the new value (undefined when removed) each time key changes. Returns an unsubscribe. */
  watch(key: string, cb: SecretsChangeListener): () => void {
    const listener = (changed: string) => {
      if (changed === key) cb(this.values.get(key));
    };
    this.on('change', listener);
    return () => this.off('change', listener);
  }

  /**
   * Reads everything again now (SIGHUP, or a test). Concurrent calls share one read. Resolves with
   * the keys that changed; rejects with the failure, after which the loop retries with backoff.
   */
  refresh(): Promise<string[]> {
    if (this.stopped) return Promise.resolve([]);
    // A read already under way may have started before the rotation that prompted this call:
    // queue exactly one more read after it, shared by every caller that arrives meanwhile.
    if (this.queued) return this.queued;
    if (this.inflight) {
      this.queued = this.inflight
        .catch(() => {})
        .then(() => {
          this.queued = undefined;
          return this.refresh();
        });
      return this.queued;
    }
    clearTimeout(this.timer);
    this.inflight = this.readOnce().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Installs a SIGHUP handler that calls refresh(); returns the function that removes it. */
  reloadOnSighup(): () => void {
    const onHup = () => {
      this.log.info('SIGHUP: reading secrets again', { labels: { backend: this.backend } });
      void this.refresh().catch(() => {});
    };
    process.on('SIGHUP', onHup);
    return () => process.off('SIGHUP', onHup);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.queued?.catch(() => {});
    await this.inflight?.catch(() => {});
    await this.close();
  }

  private async readOnce(): Promise<string[]> {
    try {
      const next = await this.fetch();
      const missing = this.required.filter((k) => !next.has(k));
      if (missing.length > 0)
        throw new SecretsError(
          SecretsErrorCodes.NOT_FOUND,
          `${this.backend}: required secret(s) missing: ${missing.join(', ')}`,
          false,
        );
      const changed = this.apply(next);
      this.failures = 0;
      this.schedule(this.opts.refreshMs);
      return changed;
    } catch (err) {
      this.failures++;
      const e = asSecretsError(err);
      const delay = this.backoffMs();
      const wasReady = this.isReady();
      const sameReason = this.lastError?.code === e.code && this.lastError.message === e.message;
      this.lastError = e;
      // One line per attempt at warn is enough to follow a sealed Vault without flooding: attempts
      // are at most one per retryMaxMs once the backoff has grown.
      this.log[sameReason ? 'warn' : 'error'](
        `secrets not available: ${e.message}; retrying in ${delay} ms`,
        {
          error: { code: e.code },
          labels: { backend: this.backend, attempt: String(this.failures) },
        },
      );
      if (wasReady) this.emit('unready', e);
      this.schedule(delay);
      throw e;
    }
  }

  private apply(next: Map<string, string>): string[] {
    const changed: string[] = [];
    for (const [k, v] of next) if (this.values.get(k) !== v) changed.push(k);
    for (const k of this.values.keys()) if (!next.has(k)) changed.push(k);
    const wasReady = this.isReady();
    const firstLoad = !this.loaded;
    this.values = next;
    this.loaded = true;
    this.lastError = undefined;
    if (!wasReady) {
      this.log.info(firstLoad ? 'secrets loaded' : 'secrets available again', {
        labels: { backend: this.backend, keys: String(next.size) },
      });
      this.emit('ready');
    }
    if (!firstLoad && changed.length > 0) {
      // Key names only: which credential rotated is what an operator needs, the value never.
      this.log.info('secrets changed', {
        labels: { backend: this.backend, changed_keys: changed.join(',') },
      });
      for (const k of changed) {
        try {
          this.emit('change', k);
        } catch (err) {
          this.log.error('secrets change listener failed', {
            error: { message: errorMessage(err) },
            labels: { key: k },
          });
        }
      }
    }
    return firstLoad ? [] : changed;
  }

  private backoffMs(): number {
    const min = this.opts.retryMinMs ?? 1_000;
    const exp = Math.min(this.opts.retryMaxMs, min * 2 ** Math.min(this.failures - 1, 20));
    // Jitter keeps every service from hitting a just-unsealed Vault in the same millisecond.
    return Math.round(exp * (0.75 + Math.random() * 0.25));
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped || !this.running) return;
    this.timer = setTimeout(() => void this.refresh().catch(() => {}), ms);
    this.timer.unref();
  }
}

export function asSecretsError(err: unknown): SecretsError {
  if (err instanceof SecretsError) return err;
  const code = (err as { code?: unknown }).code;
  // CONFIG_INVALID from readCredential: a missing secret_id file is fixed by an operator, not time.
  if (code === 'SB_ERR_CONFIG_INVALID')
    return new SecretsError(SecretsErrorCodes.AUTH_FAILED, errorMessage(err), false);
  return new SecretsError(SecretsErrorCodes.UNREACHABLE, errorMessage(err), true);
}
