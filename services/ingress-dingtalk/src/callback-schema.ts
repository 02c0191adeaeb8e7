import { z } from 'zod';

/**
 * A robot message as DingTalk delivers it, by HTTP callback or Stream mode (same JSON). Only what
 * we use is checked; DingTalk adds fields over time and they must not make us refuse messages.
 */
const common = {
  msgId: z.string().min(1).max(256),
  conversationId: z.string().min(1).max(256),
  /** '1' single chat, '2' group. */
  conversationType: z.enum(['1', '2']),
  conversationTitle: z.string().optional(),
  senderId: z.string().min(1).max(256),
  senderNick: z.string().max(256).optional(),
  /** Missing for people outside the organisation. */
  senderStaffId: z.string().min(1).max(256).optional(),
  senderCorpId: z.string().optional(),
  chatbotUserId: z.string().optional(),
  robotCode: z.string().optional(),
  isInAtList: z.boolean().optional(),
  atUsers: z.array(z.object({ dingtalkId: z.string(), staffId: z.string().optional() })).optional(),
  sessionWebhook: z.string().optional(),
  /** Milliseconds since the epoch. */
  sessionWebhookExpiredTime: z.number().optional(),
  createAt: z.number().optional(),
};

const repliedMsg = z.object({ msgId: z.string().optional() }).loose().optional();

const downloadable = z.object({ downloadCode: z.string().min(1) }).loose();

export const callbackSchema = z.discriminatedUnion('msgtype', [
  z
    .object({
      ...common,
      msgtype: z.literal('text'),
      text: z.object({ content: z.string(), isReplyMsg: z.boolean().optional(), repliedMsg }).loose(),
    })
    .loose(),
  z.object({ ...common, msgtype: z.literal('picture'), content: downloadable }).loose(),
  z
    .object({
      ...common,
      msgtype: z.literal('file'),
      content: downloadable.extend({ fileName: z.string().max(512).optional() }),
    })
    .loose(),
  z
    .object({
      ...common,
      msgtype: z.literal('audio'),
      content: downloadable.extend({ recognition: z.string().optional() }),
    })
    .loose(),
  z.object({ ...common, msgtype: z.literal('video'), content: downloadable }).loose(),
  z
    .object({
      ...common,
      msgtype: z.literal('richText'),
      content: z.object({
        richText: z.array(
          z
            .object({
              text: z.string().optional(),
              type: z.string().optional(),
              downloadCode: z.string().optional(),
              pictureDownloadCode: z.string().optional(),
            })
            .loose(),
        ),
      }),
    })
    .loose(),
]);

export type RobotCallback = z.infer<typeof callbackSchema>;

/** Message types we understand; anything else is acknowledged and not answered. */
export const KNOWN_TYPES = new Set(['text', 'picture', 'file', 'audio', 'video', 'richText']);
