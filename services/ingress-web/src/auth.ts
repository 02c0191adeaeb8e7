import { createHash, timingSafeEqual } from 'node:crypto';
import { type Authenticator, bearerToken, ErrorCodes, SwitchboardError } from '@switchboard/core';
import { type ClaimValue, type JwtVerifier, looksLikeJwt } from './jwt.ts';

/** Who made a request: a holder of an opaque API token, or a client with a verified JWT. */
export type Principal =
  | { kind: 'token'; subject: undefined; claims: undefined }
  | {
      kind: 'jwt';
      subject: string | undefined;
      claims: Record<string, ClaimValue>;
      /** Epoch ms when the token stops authenticating; a WebSocket it opened is closed then. */
      expiresAt: number;
    };

const TOKEN: Principal = { kind: 'token', subject: undefined, claims: undefined };

/**
 * Opaque API tokens (compared by digest, so neither the token's length nor its prefix leaks
 * through timing) and, when configured, JWTs.
 */
export class TokenAuth {
  private readonly digests: Buffer[];

  constructor(
    tokens: string[],
    private readonly jwt?: JwtVerifier,
  ) {
    this.digests = tokens.map((t) => createHash('sha256').update(t).digest());
  }

  /** Whether the token is one of the opaque API tokens. */
  check(token: string | undefined): boolean {
    if (!token) return false;
    const d = createHash('sha256').update(token).digest();
    let ok = false;
    for (const known of this.digests) ok = timingSafeEqual(known, d) || ok;
    return ok;
  }

  /** Throws 401 with the reason unless the token is a known API token or a valid JWT. */
  async authenticate(token: string | undefined): Promise<Principal> {
    if (this.check(token)) return TOKEN;
    if (token && this.jwt && looksLikeJwt(token)) {
      const v = await this.jwt.verify(token);
      return { kind: 'jwt', subject: v.subject, claims: v.claims, expiresAt: v.expiresAt };
    }
    throw new SwitchboardError(ErrorCodes.UNAUTHORIZED, 'invalid API token', { statusCode: 401 });
  }

  /** The Authorization header's bearer token, authenticated. */
  async requireBearer(header: string | undefined): Promise<Principal> {
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
    return this.authenticate(m[1]);
  }
}

/**
 * The access hook's view of API clients: an Authorization bearer that is an API token or a valid
 * JWT. The WebSocket authenticates in its first frame instead (browsers cannot set headers there).
 */
export function apiClientAuthenticator(auth: TokenAuth): Authenticator {
  return async (req) => {
    const token = bearerToken(req);
    if (token === undefined) return null;
    const p = await auth.authenticate(token);
    return p.kind === 'jwt'
      ? {
          kind: 'api',
          id: `jwt:${p.subject ?? ''}`,
          name: p.subject ?? 'jwt client',
          via: 'bearer',
          subject: p.subject,
          claims: p.claims,
        }
      : { kind: 'api', id: 'api-token', name: 'API token', via: 'bearer' };
  };
}

/** Route options of the API routes: an API client, resolved before the handler runs. */
export const apiClient = { config: { access: { caller: ['api'] as const } } };
