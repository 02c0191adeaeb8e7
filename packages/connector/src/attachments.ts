import { createHash } from 'node:crypto';
import { ErrorCodes, type Pool, SwitchboardError } from '@switchboard/core';
import type { OutgoingFile, RemoteAttachment } from './adapter.ts';

/** How an envelope refers to a stored file; workers and connectors resolve it through this store. */
export const ATTACHMENT_SCHEME = 'attachment://';

export interface StoredAttachment {
  kind: RemoteAttachment['kind'];
  name?: string;
  mimeType?: string;
  size: number;
  url: string;
}

/** Files people send, downloaded once (size-capped) and kept in PostgreSQL, so backups include them. */
export class AttachmentStore {
  constructor(
    private readonly pool: Pool,
    private readonly platform: string,
    private readonly maxBytes: number,
  ) {}

  /** Downloads and stores a file; throws SB_ERR_ATTACHMENT_TOO_LARGE when it is over the cap. */
  async ingest(a: RemoteAttachment): Promise<StoredAttachment> {
    if (a.size !== undefined && a.size > this.maxBytes) throw this.tooLarge(a.name, a.size);
    const data = await a.download(this.maxBytes);
    if (data.length > this.maxBytes) throw this.tooLarge(a.name, data.length);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const { rows } = await this.pool.query<{ id: string }>({
      name: 'sb_attachment_store',
      text: `INSERT INTO attachments (sha256, platform, name, mime_type, size, data) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (sha256, platform) DO UPDATE SET name = COALESCE(attachments.name, EXCLUDED.name)
             RETURNING id`,
      values: [sha256, this.platform, a.name ?? null, a.mimeType ?? null, data.length, data],
    });
    return {
      kind: a.kind,
      name: a.name,
      mimeType: a.mimeType,
      size: data.length,
      url: `${ATTACHMENT_SCHEME}${rows[0]!.id}`,
    };
  }

  /** Loads a stored file for sending; undefined for URLs that are not ours. */
  async load(url: string): Promise<OutgoingFile | undefined> {
    if (!url.startsWith(ATTACHMENT_SCHEME)) return undefined;
    const id = url.slice(ATTACHMENT_SCHEME.length);
    const { rows } = await this.pool.query<{ name: string | null; mime_type: string | null; data: Buffer }>(
      'SELECT name, mime_type, data FROM attachments WHERE id::text = $1',
      [id],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      name: row.name ?? 'file',
      mimeType: row.mime_type ?? 'application/octet-stream',
      data: row.data,
    };
  }

  private tooLarge(name: string | undefined, size: number): SwitchboardError {
    return new SwitchboardError(
      ErrorCodes.ATTACHMENT_TOO_LARGE,
      `${name ?? 'attachment'} is ${formatBytes(size)}, over the ${formatBytes(this.maxBytes)} limit`,
      { statusCode: 413 },
    );
  }
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}

/** Reads a response body, stopping with an error as soon as more than maxBytes arrived. */
export async function readCapped(body: AsyncIterable<Uint8Array>, maxBytes: number, name = 'attachment') {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > maxBytes) {
      throw new SwitchboardError(
        ErrorCodes.ATTACHMENT_TOO_LARGE,
        `${name} is over the ${formatBytes(maxBytes)} limit`,
        { statusCode: 413 },
      );
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
