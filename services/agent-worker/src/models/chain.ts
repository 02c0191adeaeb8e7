import { ErrorCodes, type Logger, SwitchboardError } from '@switchboard/core';
import type { ModelSpec } from '@switchboard/models';
import pRetry, { AbortError } from 'p-retry';
import { OllamaModel } from './ollama.ts';
import { OpenAiModel } from './openai.ts';
import {
  type ChatMessage,
  type ChatModel,
  type ChatOptions,
  type ChatResult,
  ModelCallError,
} from './provider.ts';

export interface ChainResult extends ChatResult {
  model: string;
}

export interface ModelChainHooks {
  onCall?(label: string, outcome: 'ok' | ModelCallError['reason'], seconds: number): void;
}

/**
 * Tries each model in order. A model is retried with exponential backoff on 429, 5xx, timeouts and
 * network errors; a client error (bad request, unknown model) moves straight to the next model.
 */
export class ModelChain {
  constructor(
    readonly models: Array<{ model: ChatModel; timeoutMs: number }>,
    private readonly opts: { retries: number; minBackoffMs?: number; log: Logger; hooks?: ModelChainHooks },
  ) {}

  get labels(): string[] {
    return this.models.map((m) => m.model.label);
  }

  async complete(messages: ChatMessage[], traceId: string, options?: ChatOptions): Promise<ChainResult> {
    const failures: string[] = [];
    for (const { model, timeoutMs } of this.models) {
      try {
        const result = await pRetry(() => this.callOnce(model, timeoutMs, messages, options), {
          retries: this.opts.retries,
          minTimeout: this.opts.minBackoffMs ?? 250,
          factor: 2,
          maxTimeout: 5_000,
          randomize: true,
          onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
            this.opts.log.warn('model call failed', {
              trace: { id: traceId },
              labels: { model: model.label },
              error: { message: error.message },
              event: { attempt: attemptNumber, retries_left: retriesLeft },
            });
          },
        });
        return { ...result, model: model.label };
      } catch (err) {
        const e = err instanceof AbortError ? err.cause : err;
        failures.push(`${model.label}: ${(e as Error)?.message ?? String(e)}`);
      }
    }
    throw new SwitchboardError(ErrorCodes.ALL_MODELS_FAILED, `every model failed (${failures.join('; ')})`);
  }

  private async callOnce(
    model: ChatModel,
    timeoutMs: number,
    messages: ChatMessage[],
    options: ChatOptions | undefined,
  ): Promise<ChatResult> {
    const started = performance.now();
    try {
      const result = await model.chat(messages, AbortSignal.timeout(timeoutMs), options);
      this.opts.hooks?.onCall?.(model.label, 'ok', (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      const e = err instanceof ModelCallError ? err : new ModelCallError(String(err), 'network');
      this.opts.hooks?.onCall?.(model.label, e.reason, (performance.now() - started) / 1000);
      // p-retry stops at an AbortError: no point repeating a request the model refused as malformed.
      if (!e.retryable) throw new AbortError(e);
      throw e;
    }
  }
}

export function buildModels(
  specs: ModelSpec[],
  o: { ollamaUrl: string; openaiBaseUrl: string; openaiApiKey?: string; defaultTimeoutMs: number },
): Array<{ model: ChatModel; timeoutMs: number }> {
  return specs.map((s) => ({
    model:
      s.provider === 'ollama'
        ? new OllamaModel(s.model, o.ollamaUrl)
        : new OpenAiModel(s.model, o.openaiBaseUrl, o.openaiApiKey ?? 'unused'),
    timeoutMs: s.timeoutMs ?? o.defaultTimeoutMs,
  }));
}
