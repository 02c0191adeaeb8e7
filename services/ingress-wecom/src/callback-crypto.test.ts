import { SignatureError } from '@switchboard/connector';
import { describe, expect, it } from 'vitest';
import { wecomDecrypt, wecomEncrypt, wecomSignature } from '../../../test/fakes/wecom/crypto.ts';
import { CallbackCrypto } from './callback-crypto.ts';
import { parseXmlFields } from './xml.ts';

// The example of WeCom's own callback sample (weworkapi callback/Sample.py): its token, key and
// CorpID, a URL check and a message exactly as WeCom sent them in October 2016.
const SAMPLE = {
  token: 'hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo',
  encodingAesKey: '6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt',
  corpId: 'ww1436e0e65a779aee',
};
const VERIFY = {
  msg_signature: '012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb',
  timestamp: '1476416373',
  nonce: '47744683',
  echostr: 'fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==',
};
const POST = {
  msg_signature: '0c3914025cb4b4d68103f6bfc8db550f79dcf48e',
  timestamp: '1476422779',
  nonce: '1597212914',
  encrypt:
    'Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+',
};

/** The crypto with its clock at the sample's time, so the replay window lets it through. */
const atSampleTime = (o: Partial<typeof SAMPLE> = {}, at = POST.timestamp) =>
  new CallbackCrypto({ ...SAMPLE, ...o, maxClockSkewS: 300, now: () => Number(at) * 1000 });

describe('CallbackCrypto', () => {
  it("opens WeCom's own sample URL check and message", () => {
    expect(atSampleTime({}, VERIFY.timestamp).open(VERIFY, VERIFY.echostr)).toBe('1288432023552776189');
    const xml = parseXmlFields(atSampleTime().open(POST, POST.encrypt));
    expect(xml).toMatchObject({
      ToUserName: 'ww1436e0e65a779aee',
      FromUserName: 'ChenJiaShun',
      MsgType: 'text',
      Content: '你好',
      MsgId: '1456453720',
      AgentID: '1000002',
    });
  });

  it('refuses a wrong signature, token, CorpID or a missing parameter', () => {
    const c = atSampleTime();
    const flipped = `${POST.msg_signature.slice(0, -1)}${POST.msg_signature.endsWith('f') ? '0' : 'f'}`;
    expect(() => c.open({ ...POST, msg_signature: flipped }, POST.encrypt)).toThrow(/does not match/);
    expect(() => c.open({ ...POST, nonce: '1597212915' }, POST.encrypt)).toThrow(SignatureError);
    expect(() => atSampleTime({ token: 'another' }).open(POST, POST.encrypt)).toThrow(/does not match/);
    // Right signature and key, but the ciphertext names another corp as its receiver.
    expect(() => atSampleTime({ corpId: 'wwsomeoneelse' }).open(POST, POST.encrypt)).toThrow(/CorpID/);
    expect(() => c.open({ timestamp: POST.timestamp, nonce: POST.nonce }, POST.encrypt)).toThrow(/required/);
  });

  it('refuses a correctly signed message outside the replay window', () => {
    const later = new CallbackCrypto({ ...SAMPLE, maxClockSkewS: 300, now: () => (1476422779 + 301) * 1000 });
    expect(() => later.open(POST, POST.encrypt)).toThrow(/from our clock/);
    const earlier = new CallbackCrypto({
      ...SAMPLE,
      maxClockSkewS: 300,
      now: () => (1476422779 - 301) * 1000,
    });
    expect(() => earlier.open(POST, POST.encrypt)).toThrow(SignatureError);
  });

  it('refuses signed garbage that does not decrypt to a message for us', () => {
    const c = atSampleTime();
    for (const garbage of ['AAAA', 'bm90IGEgYmxvY2s=', Buffer.alloc(64, 7).toString('base64')]) {
      const signature = wecomSignature(SAMPLE.token, POST.timestamp, POST.nonce, garbage);
      expect(() => c.open({ ...POST, msg_signature: signature }, garbage)).toThrow(SignatureError);
    }
  });

  it('agrees with an independent implementation of the scheme, both ways, with CJK and emoji', () => {
    const c = new CallbackCrypto({ ...SAMPLE, maxClockSkewS: 300 });
    const message = '<xml><Content><![CDATA[你好，世界 🌏 ]]></Content></xml>';
    // Theirs → ours.
    const ciphertext = wecomEncrypt(SAMPLE.encodingAesKey, message, SAMPLE.corpId);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = wecomSignature(SAMPLE.token, timestamp, '42', ciphertext);
    expect(c.open({ msg_signature: signature, timestamp, nonce: '42' }, ciphertext)).toBe(message);
    // Ours → theirs.
    const sealed = c.seal(message);
    expect(wecomSignature(SAMPLE.token, sealed.timestamp, sealed.nonce, sealed.ciphertext)).toBe(
      sealed.signature,
    );
    expect(wecomDecrypt(SAMPLE.encodingAesKey, sealed.ciphertext)).toEqual({
      message,
      receiveId: SAMPLE.corpId,
    });
  });

  it('builds a passive reply WeCom can verify and decrypt', () => {
    const c = new CallbackCrypto({ ...SAMPLE, maxClockSkewS: 300 });
    const reply =
      '<xml><ToUserName>ChenJiaShun</ToUserName><MsgType>text</MsgType><Content>好的</Content></xml>';
    const xml = parseXmlFields(c.replyXml(reply, '1476422779', '1597212914'));
    expect(xml.TimeStamp).toBe('1476422779');
    expect(xml.Nonce).toBe('1597212914');
    expect(wecomSignature(SAMPLE.token, '1476422779', '1597212914', xml.Encrypt!)).toBe(xml.MsgSignature);
    expect(wecomDecrypt(SAMPLE.encodingAesKey, xml.Encrypt!).message).toBe(reply);
    // And it opens with our own side as well, as WeCom's answer to a URL check would.
    expect(
      atSampleTime().open(
        { msg_signature: xml.MsgSignature, timestamp: xml.TimeStamp, nonce: xml.Nonce },
        xml.Encrypt!,
      ),
    ).toBe(reply);
  });

  it('refuses a malformed EncodingAESKey at construction', () => {
    expect(() => new CallbackCrypto({ ...SAMPLE, encodingAesKey: 'short', maxClockSkewS: 300 })).toThrow();
  });
});
