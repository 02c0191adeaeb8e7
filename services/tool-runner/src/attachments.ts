import { createHash } from 'node:crypto';
import type { Pool } from '@switchboard/core';
import type { ToolAttachment } from './tool.ts';

/** How envelopes and tool results refer to a stored file (the connectors resolve it). */
export const ATTACHMENT_SCHEME = 'attachment://';

/**
 * Files the tools produce (screenshots, files send_message attaches), kept in PostgreSQL's
 * attachments table like the files people send, so connectors can deliver them and backups include
 * them. Content-addressed: the same bytes are stored once. Connectors deliver a file under the name
 * and type of its row, so storing the same bytes again under another name renames the row (the
 * newest message gets the name it asked for).
 */
export class ToolAttachmentStore {
  constructor(private readonly pool: Pool) {}

  async save(data: Buffer, name: string, mimeType: string): Promise<ToolAttachment> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    const { rows } = await this.pool.query<{ id: string }>({
      name: 'sb_tool_attachment_store',
      text: `INSERT INTO attachments (sha256, platform, name, mime_type, size, data) VALUES ($1, 'tool', $2, $3, $4, $5)
             ON CONFLICT (sha256, platform) DO UPDATE SET name = EXCLUDED.name, mime_type = EXCLUDED.mime_type
             RETURNING id`,
      values: [sha256, name, mimeType, data.length, data],
    });
    return {
      kind: mimeType.startsWith('image/') ? 'image' : 'file',
      name,
      mimeType,
      size: data.length,
      url: `${ATTACHMENT_SCHEME}${rows[0]!.id}`,
    };
  }
}
