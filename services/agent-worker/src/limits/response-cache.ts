import { createHash } from 'node:crypto';
import { errorMessage, type Logger } from '@switchboard/core';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { ChatMessage } from '../models/provider.ts';

const cachedSchema = z.object({
  content: z.string(),
  model: z.string(),
  promptTokens: z.number().int().nonnegative().optional(),
  completionTokens: z.number().int().nonnegative().optional(),
  cachedAt: z.iso.datetime(),
});
export type CachedResponse = z.infer<typeof cachedSchema>;

export interface CacheKeyInput {
  /** The profile's chain (AgentProfile.modelChainSpec): another chain may answer differently. */
  modelChain: string;
  /** Everything the model reads, system prompt included. */
  messages: ChatMessage[];
  /** Names of the tools offered, if any; their presence changes what a model answers. */
  tools?: string[];
}

/** Answers above this size are not cached: a cache full of huge answers helps nobody. */
const MAX_BYTES = 256 * 1024;
const KEY_VERSION = 1;

/**
 * An opt-in cache of final answers for identical prompts (agent profiles with cache_ttl_seconds),
 * so a repeated question is answered without a model call. Only plain turns belong here: a turn
 * whose model asked for tools depends on what the tools returned then, so such answers are refused.
 * Redis trouble is a miss, never a failed turn.
 */
export class ResponseCache {
  constructor(
    private readonly redis: Redis,
    private readonly o: { prefix: string; log: Logger },
  ) {}

  /**
   * A digest of the chain, the messages and the tools offered; undefined when the messages carry a
   * tool exchange (such prompts are never cached).
   */
  static key(input: CacheKeyInput): string | undefined {
    const parts: unknown[] = [];
    for (const m of input.messages) {
      if (m.role === 'tool' || (m.role === 'assistant' && m.toolCalls?.length)) return undefined;
      parts.push([m.role, m.content]);
    }
    // Arrays, not objects: the digest must not depend on property order.
    const canonical = JSON.stringify([KEY_VERSION, input.modelChain, [...(input.tools ?? [])].sort(), parts]);
    return createHash('sha256').update(canonical).digest('hex');
  }

  private redisKey(key: string): string {
    return `${this.o.prefix}:respcache:${key}`;
  }

  async get(key: string): Promise<CachedResponse | undefined> {
    let raw: string | null;
    try {
      raw = await this.redis.get(this.redisKey(key));
    } catch (err) {
      this.o.log.warn('response cache read failed; asking the model', {
        error: { message: errorMessage(err) },
      });
      return undefined;
    }
    if (raw === null) return undefined;
    try {
      return cachedSchema.parse(JSON.parse(raw));
    } catch {
      // Written by another version, or damaged: a miss, and the next answer replaces it.
      return undefined;
    }
  }

  /**
   * Stores a final answer for `ttlSeconds`. Returns whether it was stored: not for a TTL of 0, an
   * answer with tool calls, an oversized answer, or when Redis is unreachable.
   */
  async set(
    key: string,
    answer: {
      content: string;
      model: string;
      toolCalls?: unknown[];
      promptTokens?: number;
      completionTokens?: number;
    },
    ttlSeconds: number,
  ): Promise<boolean> {
    if (!(ttlSeconds > 0) || (answer.toolCalls?.length ?? 0) > 0) return false;
    const value: CachedResponse = {
      content: answer.content,
      model: answer.model,
      promptTokens: answer.promptTokens,
      completionTokens: answer.completionTokens,
      cachedAt: new Date().toISOString(),
    };
    const json = JSON.stringify(value);
    if (Buffer.byteLength(json) > MAX_BYTES) return false;
    try {
      await this.redis.set(this.redisKey(key), json, 'PX', Math.ceil(ttlSeconds * 1000));
      return true;
    } catch (err) {
      this.o.log.warn('response cache write failed', { error: { message: errorMessage(err) } });
      return false;
    }
  }
}
