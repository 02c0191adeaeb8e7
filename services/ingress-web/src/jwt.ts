import { ErrorCodes, SwitchboardError } from '@switchboard/core';
import {
  type CryptoKey,
  createRemoteJWKSet,
  type FlattenedJWSInput,
  importSPKI,
  type JWTHeaderParameters,
  type JWTPayload,
  jwtVerify,
} from 'jose';
import { HMAC_ALGORITHMS, jwtAlgorithms, type WebConfig } from './config.ts';

/** Claim values that travel in the envelope; arrays and objects are left out. */
export type ClaimValue = string | number | boolean;

export interface VerifiedJwt {
  subject: string | undefined;
  /** The whitelisted claims (API_JWT_CLAIMS) the token carried. */
  claims: Record<string, ClaimValue>;
  /** Epoch ms after which the token no longer authenticates (exp plus the clock tolerance). */
  expiresAt: number;
}

const MAX_CLAIM_CHARS = 1_024;

/** Looks like a JWS in compact form: three base64url parts. Opaque API tokens are checked first. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

const unauthorized = (message: string) =>
  new SwitchboardError(ErrorCodes.UNAUTHORIZED, message, { statusCode: 401 });
const keysUnavailable = () =>
  new SwitchboardError(ErrorCodes.UNAUTHORIZED, 'JWT keys unavailable; try again', {
    statusCode: 503,
    retryable: true,
  });

/**
 * Verifies API clients' JWTs: signed with a shared secret (HS*), a public key, or a key from a
 * JWKS URL; algorithms pinned by configuration (never `none`, never HS with a public key); `iss`
 * and `aud` pinned; `exp` and `iat` required and the lifetime between them capped, so a leaked
 * token is worth at most that long; `nbf` honoured. Only whitelisted claims are passed on.
 */
export class JwtVerifier {
  private readonly algorithms: string[];
  private readonly secret: Uint8Array | undefined;
  private readonly publicKeys = new Map<string, Promise<CryptoKey>>();
  private readonly jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(
    private readonly o: {
      secret?: string;
      publicKeyPem?: string;
      jwksUrl?: string;
      algorithms: string[];
      issuer: string;
      audience: string;
      claims: string[];
      clockToleranceSeconds: number;
      maxLifetimeSeconds: number;
    },
  ) {
    this.algorithms = o.algorithms;
    this.secret = o.secret ? new TextEncoder().encode(o.secret) : undefined;
    this.jwks = o.jwksUrl ? createRemoteJWKSet(new URL(o.jwksUrl), { timeoutDuration: 5_000 }) : undefined;
  }

  /** Built from the service settings; undefined when no JWT key is configured. */
  static fromConfig(cfg: WebConfig): JwtVerifier | undefined {
    if (!cfg.API_JWT_SECRET && !cfg.API_JWT_PUBLIC_KEY && !cfg.API_JWT_JWKS_URL) return undefined;
    // The config refuses to load without them; this keeps a hand-built config from skipping the check.
    if (!cfg.API_JWT_ISSUER || !cfg.API_JWT_AUDIENCE) {
      throw new SwitchboardError(
        ErrorCodes.CONFIG_INVALID,
        'API_JWT_ISSUER and API_JWT_AUDIENCE are required when JWTs are accepted',
      );
    }
    return new JwtVerifier({
      secret: cfg.API_JWT_SECRET,
      publicKeyPem: cfg.API_JWT_PUBLIC_KEY,
      jwksUrl: cfg.API_JWT_JWKS_URL,
      algorithms: jwtAlgorithms(cfg),
      issuer: cfg.API_JWT_ISSUER,
      audience: cfg.API_JWT_AUDIENCE,
      claims: cfg.API_JWT_CLAIMS,
      clockToleranceSeconds: cfg.API_JWT_CLOCK_TOLERANCE_S,
      maxLifetimeSeconds: cfg.API_JWT_MAX_LIFETIME_S,
    });
  }

  async verify(token: string): Promise<VerifiedJwt> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header, input) => this.keyFor(header, input), {
        algorithms: this.algorithms,
        issuer: this.o.issuer,
        audience: this.o.audience,
        clockTolerance: this.o.clockToleranceSeconds,
        // jose then requires iat, refuses one in the future and one older than this.
        maxTokenAge: this.o.maxLifetimeSeconds,
        requiredClaims: ['exp', 'iat', 'iss', 'aud'],
      }));
    } catch (err) {
      throw this.explain(err);
    }
    const exp = payload.exp as number;
    const iat = payload.iat as number;
    if (exp - iat > this.o.maxLifetimeSeconds) {
      throw unauthorized(
        `JWT lifetime (exp - iat) is ${Math.round(exp - iat)} s; at most ${this.o.maxLifetimeSeconds} s is accepted`,
      );
    }
    const claims: Record<string, ClaimValue> = {};
    for (const name of this.o.claims) {
      const v = payload[name];
      if (typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) claims[name] = v;
      else if (typeof v === 'string' && v.length <= MAX_CLAIM_CHARS) claims[name] = v;
    }
    return {
      subject: typeof payload.sub === 'string' ? payload.sub : undefined,
      claims,
      expiresAt: (exp + this.o.clockToleranceSeconds) * 1000,
    };
  }

  private async keyFor(
    header: JWTHeaderParameters,
    input: FlattenedJWSInput,
  ): Promise<CryptoKey | Uint8Array> {
    const alg = header.alg;
    // jose has checked `alg` against the pinned list already; pick the key kind that alg needs.
    if ((HMAC_ALGORITHMS as readonly string[]).includes(alg)) {
      if (!this.secret) throw unauthorized(`JWT algorithm ${alg} needs API_JWT_SECRET, which is not set`);
      return this.secret;
    }
    if (this.o.publicKeyPem) {
      let key = this.publicKeys.get(alg);
      if (!key) {
        key = importSPKI(this.o.publicKeyPem, alg);
        this.publicKeys.set(alg, key);
      }
      return key;
    }
    if (this.jwks) return this.jwks(header, input);
    throw unauthorized(`JWT algorithm ${alg} needs API_JWT_PUBLIC_KEY or API_JWT_JWKS_URL, neither is set`);
  }

  /** A reason the client can act on; never the token or the key. */
  private explain(err: unknown): SwitchboardError {
    if (err instanceof SwitchboardError) return err;
    const e = err as { code?: string; claim?: string; reason?: string; message?: string };
    switch (e.code) {
      case 'ERR_JWT_EXPIRED':
        if (e.claim === 'iat') {
          return unauthorized(`JWT issued more than ${this.o.maxLifetimeSeconds} s ago (iat)`);
        }
        return unauthorized('JWT expired');
      case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
        if (e.claim === 'nbf') return unauthorized('JWT not valid yet (nbf)');
        if (e.claim === 'iat' && e.reason !== 'missing')
          return unauthorized('JWT issued in the future (iat)');
        if (e.reason === 'missing') return unauthorized(`JWT lacks the required "${e.claim}" claim`);
        return unauthorized(`JWT "${e.claim}" claim check failed`);
      case 'ERR_JOSE_ALG_NOT_ALLOWED':
        return unauthorized(`JWT algorithm not allowed (allowed: ${this.algorithms.join(', ')})`);
      case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
        return unauthorized('JWT signature invalid');
      case 'ERR_JWKS_NO_MATCHING_KEY':
        return unauthorized('JWT signed with a key the JWKS does not hold');
      case 'ERR_JWKS_TIMEOUT':
      case 'ERR_JWKS_INVALID':
        return keysUnavailable();
      default:
        // Not a verdict on the token: the JWKS endpoint could not be fetched.
        if (this.jwks && !e.code?.startsWith('ERR_J')) return keysUnavailable();
        return unauthorized('malformed JWT');
    }
  }
}
