import type { Logger } from '@switchboard/core';
import type { ModelSpec } from '@switchboard/models';
import { limitedModel } from '../limits/limited-model.ts';
import type { ModelLimiter } from '../limits/model-limiter.ts';
import { buildModels, ModelChain, type ModelChainHooks } from '../models/chain.ts';
import { formatModelChain } from '../routing/profile.ts';

export interface ChainFactoryOptions {
  models: Parameters<typeof buildModels>[1];
  retries: number;
  log: Logger;
  hooks?: ModelChainHooks;
  limiter?: ModelLimiter;
}

/**
 * One ModelChain per distinct chain (routes and skills pick their own), built once and kept: the
 * clients hold connection pools, and every model call goes through the shared per-model limits.
 */
export class ChainFactory {
  private readonly chains = new Map<string, ModelChain>();

  constructor(private readonly o: ChainFactoryOptions) {}

  get(specs: ModelSpec[]): ModelChain {
    const key = formatModelChain(specs);
    let chain = this.chains.get(key);
    if (!chain) {
      const models = buildModels(specs, this.o.models).map(({ model, timeoutMs }) => ({
        model: this.o.limiter ? limitedModel(model, this.o.limiter) : model,
        timeoutMs,
      }));
      chain = new ModelChain(models, { retries: this.o.retries, log: this.o.log, hooks: this.o.hooks });
      // Routes come and go with the rules; the number of distinct chains stays small in practice.
      if (this.chains.size > 100) this.chains.clear();
      this.chains.set(key, chain);
    }
    return chain;
  }
}
