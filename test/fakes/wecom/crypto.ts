import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/*
 * WeCom's callback crypto (加解密方案), written again from the specification instead of taken from
 * @wecom/crypto, which the connector uses: the fake and the connector agreeing then means both
 * follow the specification, not that they share a mistake.
 */

function keyOf(encodingAesKey: string): { key: Buffer; iv: Buffer } {
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  if (encodingAesKey.length !== 43 || key.length !== 32)
    throw new Error('EncodingAESKey must be 43 characters');
  return { key, iv: key.subarray(0, 16) };
}

/** msg_signature: SHA-1 over token, timestamp, nonce and ciphertext, sorted, concatenated. */
export function wecomSignature(token: string, timestamp: string, nonce: string, ciphertext: string): string {
  return createHash('sha1').update([token, timestamp, nonce, ciphertext].sort().join('')).digest('hex');
}

/** AES-256-CBC of random(16) + length(4, big-endian) + message + receiveid, PKCS#7 to 32-byte blocks. */
export function wecomEncrypt(encodingAesKey: string, message: string, receiveId: string): string {
  const { key, iv } = keyOf(encodingAesKey);
  const msg = Buffer.from(message, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(msg.length);
  const body = Buffer.concat([randomBytes(16), len, msg, Buffer.from(receiveId, 'utf8')]);
  const pad = 32 - (body.length % 32);
  const cipher = createCipheriv('aes-256-cbc', key, iv).setAutoPadding(false);
  return Buffer.concat([
    cipher.update(Buffer.concat([body, Buffer.alloc(pad, pad)])),
    cipher.final(),
  ]).toString('base64');
}

export function wecomDecrypt(
  encodingAesKey: string,
  ciphertext: string,
): { message: string; receiveId: string } {
  const { key, iv } = keyOf(encodingAesKey);
  const decipher = createDecipheriv('aes-256-cbc', key, iv).setAutoPadding(false);
  const padded = Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]);
  const pad = padded.at(-1) ?? 0;
  if (pad < 1 || pad > 32) throw new Error('bad PKCS#7 padding');
  const body = padded.subarray(0, padded.length - pad);
  const len = body.readUInt32BE(16);
  if (20 + len > body.length) throw new Error('message length beyond the plaintext');
  return {
    message: body.subarray(20, 20 + len).toString('utf8'),
    receiveId: body.subarray(20 + len).toString('utf8'),
  };
}
