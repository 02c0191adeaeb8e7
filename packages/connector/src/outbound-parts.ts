import type { Pool } from '@switchboard/core';

/**
 * Which parts of a split reply the platform already accepted. A reply retried after part 2 of 3
 * failed resumes at part 2; without this the user would see part 1 twice.
 */
export class OutboundParts {
  constructor(private readonly pool: Pool) {}

  async sent(messageId: string): Promise<Set<number>> {
    const { rows } = await this.pool.query<{ part: number }>({
      name: 'sb_outbound_parts_sent',
      text: 'SELECT part FROM outbound_parts WHERE message_id = $1',
      values: [messageId],
    });
    return new Set(rows.map((r) => r.part));
  }

  async markSent(messageId: string, part: number, platformMessageId: string | undefined): Promise<void> {
    await this.pool.query({
      name: 'sb_outbound_parts_mark',
      text: `INSERT INTO outbound_parts (message_id, part, platform_message_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING`,
      values: [messageId, part, platformMessageId ?? null],
    });
  }
}
