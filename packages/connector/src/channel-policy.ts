import type { Pool } from '@switchboard/core';

export type GroupPolicy = 'mention' | 'always';

/**
 * Per-channel group policy from `channel_settings`, falling back to the connector's default. Cached
 * briefly so a busy group costs no query per message, yet an operator's change applies in seconds.
 */
export class ChannelPolicy {
  private readonly cache = new Map<string, { policy: GroupPolicy; until: number }>();

  constructor(
    private readonly pool: Pool,
    private readonly o: { platform: string; defaultPolicy: GroupPolicy; cacheMs?: number },
  ) {}

  async groupPolicy(botId: string, channelId: string): Promise<GroupPolicy> {
    const key = `${botId}\u0000${channelId}`;
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return hit.policy;
    const { rows } = await this.pool.query<{ group_policy: GroupPolicy | null }>({
      name: 'sb_channel_policy',
      text: 'SELECT group_policy FROM channel_settings WHERE platform = $1 AND bot_id = $2 AND channel_id = $3',
      values: [this.o.platform, botId, channelId],
    });
    const policy = rows[0]?.group_policy ?? this.o.defaultPolicy;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { policy, until: Date.now() + (this.o.cacheMs ?? 5_000) });
    return policy;
  }
}
