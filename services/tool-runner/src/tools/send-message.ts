import type { FileHandle } from 'node:fs/promises';
import { type Broker, ENVELOPE_VERSION, type OutboundEnvelope, platformSchema } from '@switchboard/core';
import { type SendMessageArgs, sendMessageArgs } from '@switchboard/tools';
import { z } from 'zod';
import type { ToolAttachmentStore } from '../attachments.ts';
import { mimeTypeFor } from '../mime.ts';
import { refused, type Tool, type ToolAttachment, ToolError, type ToolRunContext } from '../tool.ts';
import type { Workspace } from './workspace.ts';

export const channelSchema = z.object({
  platform: platformSchema,
  botId: z.string().min(1).max(256),
  conversationId: z.string().min(1).max(256),
});
export type Channel = z.infer<typeof channelSchema>;

/** `CHANNELS_JSON`: channel names the model may post to, each a platform, bot and conversation. */
export const channelsSchema = z.record(
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'channel names: letters, digits, _ . - (max 64)'),
  channelSchema,
);

export interface SendMessageOptions {
  maxChars: number;
  /** One attached file, and all files of one call together. */
  maxFileBytes: number;
  maxTotalBytes: number;
}

/** A workspace file read for sending: its bytes, the name it is sent under and its media type. */
interface PickedFile {
  path: string;
  name: string;
  mimeType: string;
  data: Buffer;
}

/**
 * send_message: posts to a channel an operator configured — never an arbitrary conversation — by
 * publishing an outbound envelope, which the platform's connector delivers like any reply. Files
 * from the caller's own workspace folder (same confinement as the files tool) are stored in the attachments table and
 * referenced from the envelope as `attachment://<id>`, as the browser's screenshots are; every file
 * is checked and read before anything is stored or published, so a refused call sends nothing.
 */
export class SendMessageTool implements Tool<typeof sendMessageArgs> {
  readonly name = 'send_message' as const;
  readonly args = sendMessageArgs;

  constructor(
    private readonly broker: Broker,
    private readonly channels: Record<string, Channel>,
    private readonly o: SendMessageOptions,
    private readonly store: ToolAttachmentStore,
  ) {}

  async run(a: SendMessageArgs, ctx: ToolRunContext) {
    const ch = Object.hasOwn(this.channels, a.channel) ? this.channels[a.channel] : undefined;
    const known = Object.keys(this.channels).sort();
    if (!ch) {
      throw refused(
        known.length
          ? `unknown channel "${a.channel.slice(0, 64)}"; configured channels: ${known.join(', ')}`
          : 'no channels are configured for send_message on this installation',
      );
    }
    if (a.text.length > this.o.maxChars) {
      throw refused(
        `the message is ${a.text.length} characters, over the ${this.o.maxChars}-character limit`,
      );
    }
    const picked = a.files.length > 0 ? await this.pickFiles(await ctx.workspace(), a.files) : [];
    if (ctx.signal.aborted) throw new ToolError('TOOL_TIMEOUT', 'the call ran out of time; nothing was sent');
    const attachments: ToolAttachment[] = [];
    for (const f of picked) attachments.push(await this.store.save(f.data, f.name, f.mimeType));
    const { request } = ctx;
    // The id is derived from the call, so a redelivered call publishes the same message and the
    // connector's de-duplication posts it once. It answers no inbound message of that channel.
    const id = `tool:${request.id}`;
    const env: OutboundEnvelope = {
      v: ENVELOPE_VERSION,
      kind: 'outbound',
      id,
      platform: ch.platform,
      botId: ch.botId,
      conversationId: ch.conversationId,
      inReplyTo: id,
      text: a.text,
      attachments,
      status: 'ok',
      createdAt: new Date().toISOString(),
      traceId: request.caller.traceId,
    };
    await this.broker.publishOutbound(env);
    // The stored files are not returned as the call's attachments: those would be added to the
    // caller's own reply, and the files were meant for the channel only.
    const files = picked.length
      ? ` and ${picked.length} file(s): ${picked.map((f, i) => `${f.path} (${formatBytes(f.data.length)}, ${attachments[i]!.url})`).join(', ')}`
      : '';
    return { output: `sent to ${a.channel} (${ch.platform}), ${a.text.length} characters${files}` };
  }

  /** Checks and reads every file, refusing the whole call at the first one that is not fit to send. */
  private async pickFiles(ws: Workspace, paths: string[]): Promise<PickedFile[]> {
    const out: PickedFile[] = [];
    const seen = new Set<string>();
    let total = 0;
    for (const path of paths) {
      const shown = path.slice(0, 200);
      try {
        const segs = ws.segments(path);
        if (segs.length === 0) throw refused('that is the workspace root, not a file');
        const { fh, real, size } = await ws.openRead(segs, '');
        try {
          if (seen.has(real)) throw refused('the file is listed twice');
          seen.add(real);
          if (size > this.o.maxFileBytes) {
            const [is, limit] = sizes(size, this.o.maxFileBytes);
            throw refused(`it is ${is}, over the ${limit} limit for one file`);
          }
          if (total + size > this.o.maxTotalBytes) {
            const [is, limit] = sizes(total + size, this.o.maxTotalBytes);
            throw refused(
              `it would bring the files to ${is}, over the ${limit} limit for all files of one message`,
            );
          }
          const data = await readExactly(fh, size);
          if (!data) throw new ToolError('TOOL_FAILED', 'the file changed while it was being read');
          total += data.length;
          out.push({
            path: segs.join('/'),
            name: sendName(segs),
            mimeType: mimeTypeFor(segs.at(-1)!),
            data,
          });
        } finally {
          await fh.close();
        }
      } catch (err) {
        if (err instanceof ToolError) {
          throw new ToolError(err.code, `cannot attach "${shown}": ${err.message}; nothing was sent`);
        }
        throw err;
      }
    }
    return out;
  }
}

/** The name a file is delivered under: its last path segment, within the envelope's 256 characters. */
function sendName(segs: string[]): string {
  const name = segs.at(-1)!;
  if (name.length <= 256) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : '';
  return name.slice(0, 256 - ext.length) + ext;
}

/** Reads `size` bytes; undefined when the file turned out longer or shorter than its stat said. */
async function readExactly(fh: FileHandle, size: number): Promise<Buffer | undefined> {
  const buf = Buffer.alloc(size);
  let got = 0;
  while (got < size) {
    const { bytesRead } = await fh.read(buf, got, size - got, got);
    if (bytesRead === 0) return undefined;
    got += bytesRead;
  }
  const { bytesRead: more } = await fh.read(Buffer.alloc(1), 0, 1, size);
  return more === 0 ? buf : undefined;
}

/** A size and its limit, in exact bytes when rounding would make them look the same. */
function sizes(n: number, limit: number): [string, string] {
  const [a, b] = [formatBytes(n), formatBytes(limit)];
  return a === b ? [`${n} bytes`, `${limit}-byte`] : [a, b];
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}
