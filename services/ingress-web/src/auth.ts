import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, SwitchboardError } from '@switchboard/core';

/** Compares digests so neither the token's length nor its prefix leaks through timing. */
export class TokenAuth {
  private readonly digests: Buffer[];

  constructor(tokens: string[]) {
    this.digests = tokens.map((t) => createHash('sha256').update(t).digest());
  }

  check(token: string | undefined): boolean {
    if (!token) return false;
    const d = createHash('sha256').update(token).digest();
    let ok = false;
    for (const known of this.digests) ok = timingSafeEqual(known, d) || ok;
    return ok;
  }

  /** Throws 401 unless the Authorization header carries a known bearer token. */
  requireBearer(header: string | undefined): void {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) {
      throw new SwitchboardError(
        ErrorCodes.UNAUTHORIZED,
        'missing bearer token (Authorization: Bearer <token>)',
        {
          statusCode: 401,
        },
      );
    }
    if (!this.check(m[1]))
      throw new SwitchboardError(ErrorCodes.UNAUTHORIZED, 'invalid API token', { statusCode: 401 });
  }
}
