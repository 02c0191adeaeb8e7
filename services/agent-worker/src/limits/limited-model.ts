import type { ChatMessage, ChatModel, ChatOptions, ChatResult } from '../models/provider.ts';
import { ModelCallError } from '../models/provider.ts';
import { LimitError } from './errors.ts';
import type { ModelLimiter } from './model-limiter.ts';

/**
 * A model whose every call (retries included) first takes its shared budget. A budget that stays
 * saturated past the wait reads as `rate_limited` to the model chain, which backs off and then
 * moves to the next model; a call's own timeout covers its wait too.
 */
export function limitedModel(model: ChatModel, limiter: ModelLimiter): ChatModel {
  if (!limiter.ruleFor(model.label)) return model;
  return {
    provider: model.provider,
    model: model.model,
    label: model.label,
    async chat(messages: ChatMessage[], signal: AbortSignal, options?: ChatOptions): Promise<ChatResult> {
      let release: Awaited<ReturnType<ModelLimiter['acquire']>>;
      try {
        release = await limiter.acquire(model.label, { signal });
      } catch (err) {
        if (err instanceof LimitError) throw new ModelCallError(err.message, 'rate_limited');
        if (signal.aborted)
          throw new ModelCallError(`${model.label}: timed out waiting for its limit`, 'timeout');
        throw err;
      }
      try {
        return await model.chat(messages, signal, options);
      } finally {
        await release();
      }
    },
  };
}
