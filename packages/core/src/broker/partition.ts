import { createHash } from 'node:crypto';

/**
 * Maps a conversation onto one of the inbound partitions. Every publisher must agree, so this is
 * the only place it is computed; changing BROKER_PARTITIONS re-maps conversations (see docs).
 */
export function partitionOf(conversationKey: string, partitions: number): number {
  const h = createHash('sha1').update(conversationKey).digest();
  return h.readUInt32BE(0) % partitions;
}
