import { describe, expect, it } from 'vitest';
import { dingtalkSign, signedDingtalkUrl } from './dingtalk-sign.ts';

// Computed independently (Python hmac/hashlib/base64) from DingTalk's documented algorithm.
const SECRET = 'testSecret';
const TS = 1577262236757;
const SIGN = '0431bROcy3P4TvkuAWQd26NTs2mezxntsOPivdEPEaI=';

describe('DingTalk robot signature', () => {
  it('matches the documented algorithm', () => {
    expect(dingtalkSign(String(TS), SECRET)).toBe(SIGN);
  });

  it('appends timestamp and the URL-encoded sign, keeping the access token', () => {
    const url = signedDingtalkUrl('https://oapi.dingtalk.com/robot/send?access_token=abc', SECRET, TS);
    expect(url).toBe(
      `https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=${TS}&sign=${encodeURIComponent(SIGN)}`,
    );
    // "+" must be %2B: a literal "+" decodes as a space on DingTalk's side and the sign never matches.
    expect(new URL(url).searchParams.get('sign')).toBe(SIGN);
  });

  it('leaves the URL alone when the robot has no secret', () => {
    expect(signedDingtalkUrl('https://oapi.dingtalk.com/robot/send?access_token=abc', undefined, TS)).toBe(
      'https://oapi.dingtalk.com/robot/send?access_token=abc',
    );
  });
});
