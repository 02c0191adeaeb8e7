import type { Pool } from '@switchboard/core';

/**
 * Maps a platform user to our own user id, creating both on first sight. The mapping is what later
 * lets an operator see one person across platforms, and routes and pairing key on it.
 */
export class IdentityStore {
  constructor(private readonly pool: Pool) {}

  async resolve(platform: string, externalId: string, displayName?: string): Promise<string> {
    // One statement: concurrent first messages from the same person still end with one identity.
    const { rows } = await this.pool.query<{ user_id: string }>({
      name: 'sb_identity_resolve',
      text: `WITH existing AS (
               UPDATE user_identities SET last_seen = now(), display_name = COALESCE($3, display_name)
               WHERE platform = $1 AND external_id = $2 RETURNING user_id
             ), fresh AS (
               INSERT INTO users (display_name) SELECT $3 WHERE NOT EXISTS (SELECT 1 FROM existing)
               RETURNING id
             ), linked AS (
               INSERT INTO user_identities (platform, external_id, user_id, display_name)
               SELECT $1, $2, id, $3 FROM fresh
               ON CONFLICT (platform, external_id) DO UPDATE SET last_seen = now()
               RETURNING user_id
             )
             SELECT user_id FROM existing UNION ALL SELECT user_id FROM linked`,
      values: [platform, externalId, displayName ?? null],
    });
    if (rows[0]) return rows[0].user_id;
    // Lost a race with another first message: the identity exists now.
    const again = await this.pool.query<{ user_id: string }>(
      'SELECT user_id FROM user_identities WHERE platform = $1 AND external_id = $2',
      [platform, externalId],
    );
    return again.rows[0]!.user_id;
  }
}
