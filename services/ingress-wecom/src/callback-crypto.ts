import { randomBytes, timingSafeEqual } from 'node:crypto';
import { SignatureError } from '@switchboard/connector';
import { decrypt, encrypt, getSignature } from '@wecom/crypto';
import { cdata } from './xml.ts';

/** The query string WeCom signs every callback with. */
export interface SignedQuery {
  msg_signature?: string;
  timestamp?: string;
  nonce?: string;
}

export interface CallbackCryptoOptions {
  token: string;
  encodingAesKey: string;
  /** The receiveid inside every ciphertext: our CorpID. */
  corpId: string;
  maxClockSkewS: number;
  now?: () => number;
}

/**
 * WeCom's callback encryption (加解密方案): msg_signature = sha1 of the sorted token, timestamp,
 * nonce and ciphertext; the ciphertext is AES-256-CBC of 16 random bytes, a 4-byte length, the
 * message and the CorpID. The block cipher work is @wecom/crypto's; what it leaves to the caller
 * (constant-time comparison, the replay window, the CorpID check, garbage that decrypts to
 * nonsense) is done here.
 */
export class CallbackCrypto {
  private readonly now: () => number;

  constructor(private readonly o: CallbackCryptoOptions) {
    this.now = o.now ?? Date.now;
    // @wecom/crypto only notices a bad key on first use; a config error belongs at start.
    encrypt(o.encodingAesKey, '', o.corpId);
  }

  /**
   * Checks the signature and the timestamp, decrypts, and checks the ciphertext was made for our
   * CorpID. Anything off is a SignatureError (answered 401).
   */
  open(q: SignedQuery, ciphertext: string): string {
    const { msg_signature: signature, timestamp, nonce } = q;
    if (!signature || !timestamp || !nonce)
      throw new SignatureError('msg_signature, timestamp and nonce are required');
    if (!/^\d{1,12}$/.test(timestamp)) throw new SignatureError('timestamp is not a Unix time');
    const skew = Math.abs(this.now() / 1000 - Number(timestamp));
    // NOTE: a captured callback replayed later must not be taken as new; WeCom's own retries come
    // within seconds, and the MsgId makes those one answer.
    if (skew > this.o.maxClockSkewS) {
      throw new SignatureError(
        `timestamp is ${Math.round(skew)} s from our clock (at most ${this.o.maxClockSkewS} s)`,
      );
    }
    const expected = Buffer.from(getSignature(this.o.token, timestamp, nonce, ciphertext));
    const given = Buffer.from(signature.toLowerCase());
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new SignatureError('msg_signature does not match');
    }
    let plain: { message: string; id: string };
    try {
      plain = decrypt(this.o.encodingAesKey, ciphertext);
    } catch {
      throw new SignatureError('ciphertext does not decrypt');
    }
    // A wrong length field or key shows here too: the CorpID is what is left after the message.
    if (plain.id !== this.o.corpId) throw new SignatureError('ciphertext was not made for this CorpID');
    return plain.message;
  }

  /** Encrypts and signs a message as WeCom expects it back (passive reply, echo of a URL check). */
  seal(message: string, timestamp = String(Math.floor(this.now() / 1000)), nonce = randomNonce()) {
    const ciphertext = encrypt(this.o.encodingAesKey, message, this.o.corpId);
    const signature = getSignature(this.o.token, timestamp, nonce, ciphertext);
    return { ciphertext, signature, timestamp, nonce };
  }

  /** The XML a passive reply is sent as: the encrypted message with its signature. */
  replyXml(message: string, timestamp?: string, nonce?: string): string {
    const s = this.seal(message, timestamp, nonce);
    return (
      `<xml><Encrypt>${cdata(s.ciphertext)}</Encrypt><MsgSignature>${cdata(s.signature)}</MsgSignature>` +
      `<TimeStamp>${s.timestamp}</TimeStamp><Nonce>${cdata(s.nonce)}</Nonce></xml>`
    );
  }
}

function randomNonce(): string {
  return String(randomBytes(4).readUInt32BE(0));
}
