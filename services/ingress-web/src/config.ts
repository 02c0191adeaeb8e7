import { commonConfigShape, loadConfig } from '@switchboard/core';
import { z } from 'zod';

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const KEY_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'EdDSA',
] as const;

const list = (s: string) =>
  s
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

/**
 * JWTs for API clients, beside the opaque API_TOKENS: verified with a shared secret (HS*), a public
 * key or a JWKS URL; the whitelisted claims ride along in the envelope for routing rules.
 */
export const jwtConfigShape = {
  /** Shared secret for HS256/384/512 tokens; at least 32 characters. */
  API_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** PEM public key (SPKI) for RS*, PS*, ES* or EdDSA tokens. */
  API_JWT_PUBLIC_KEY: z
    .string()
    .regex(/-----BEGIN PUBLIC KEY-----/, 'must be a PEM public key (-----BEGIN PUBLIC KEY-----)')
    .optional(),
  /** Where the issuer publishes its signing keys (JWKS), fetched and cached. */
  API_JWT_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Accepted signing algorithms; default HS256 with a secret, else RS256. */
  API_JWT_ALGORITHMS: z
    .string()
    .optional()
    .transform((s, ctx) => {
      const algs = s === undefined ? [] : list(s);
      const known = [...HMAC_ALGORITHMS, ...KEY_ALGORITHMS] as readonly string[];
      const unknown = algs.filter((a) => !known.includes(a));
      if (unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown algorithms ${unknown.join(', ')}; known: ${known.join(', ')}`,
        });
        return z.NEVER;
      }
      return algs;
    }),
  /** Required `iss` claim; must be set whenever JWTs are accepted. */
  API_JWT_ISSUER: z.string().min(1).optional(),
  /** Required `aud` claim (this service's name at the issuer); must be set whenever JWTs are accepted. */
  API_JWT_AUDIENCE: z.string().min(1).optional(),
  /**
   * Longest lifetime (exp - iat) a token may have; `iat` is required. A WebSocket authenticated by
   * a JWT is closed when the token expires.
   */
  API_JWT_MAX_LIFETIME_S: z.coerce.number().int().min(60).max(86_400).default(3_600),
  /** Claims copied into the message for routing rules. */
  API_JWT_CLAIMS: z
    .string()
    .default('sub')
    .transform((s, ctx) => {
      const names = list(s);
      if (names.some((n) => !/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/.test(n))) {
        ctx.addIssue({ code: 'custom', message: 'comma-separated claim names' });
        return z.NEVER;
      }
      return names;
    }),
  /** Leeway for exp and nbf against clock skew between the issuer and us. */
  API_JWT_CLOCK_TOLERANCE_S: z.coerce.number().int().min(0).max(300).default(30),
};

export const webConfigSchema = z
  .object({
    ...commonConfigShape,
    HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    API_TOKENS: z
      .string({ error: 'is required: at least one API token (API_TOKENS or API_TOKENS_FILE)' })
      .transform((s, ctx) => {
        const tokens = s
          .split(/[,\n]/)
          .map((t) => t.trim())
          .filter(Boolean);
        if (tokens.length === 0 || tokens.some((t) => t.length < 16)) {
          ctx.addIssue({ code: 'custom', message: 'each token must be at least 16 characters' });
          return z.NEVER;
        }
        return tokens;
      }),
    WEB_BOT_ID: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .default('web'),
    MAX_MESSAGE_CHARS: z.coerce.number().int().min(1).max(200_000).default(16_000),
    BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(262_144),
    CHAT_COMPLETIONS_TIMEOUT_MS: z.coerce.number().int().min(1000).default(120_000),
    ASSISTANT_MODEL_NAME: z.string().min(1).default('switchboard'),
    /** How long a publish may wait for the broker before the client gets a 503. */
    PUBLISH_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
    DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(5),
    ...jwtConfigShape,
  })
  // NOTE: superRefine keeps this a ZodObject: loadConfig and the settings test read its shape.
  .superRefine((cfg, ctx) => {
    const algs = jwtAlgorithms(cfg);
    // An HS algorithm accepted with only a public key configured would let anyone holding the
    // (public) key sign tokens: refuse the combination outright.
    const hmac = algs.filter((a) => (HMAC_ALGORITHMS as readonly string[]).includes(a));
    if (hmac.length > 0 && !cfg.API_JWT_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['API_JWT_ALGORITHMS'],
        message: `${hmac.join(', ')} need API_JWT_SECRET`,
      });
    }
    if (algs.length > hmac.length && !cfg.API_JWT_PUBLIC_KEY && !cfg.API_JWT_JWKS_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['API_JWT_ALGORITHMS'],
        message: 'public-key algorithms need API_JWT_PUBLIC_KEY or API_JWT_JWKS_URL',
      });
    }
    // A token from the same issuer for another audience (or from any issuer a shared JWKS serves)
    // must not pass here: with JWTs on, both claims are pinned, never optional.
    if (cfg.API_JWT_SECRET || cfg.API_JWT_PUBLIC_KEY || cfg.API_JWT_JWKS_URL) {
      for (const key of ['API_JWT_ISSUER', 'API_JWT_AUDIENCE'] as const) {
        if (!cfg[key]) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message:
              'is required when JWTs are accepted (API_JWT_SECRET, API_JWT_PUBLIC_KEY or API_JWT_JWKS_URL is set)',
          });
        }
      }
    }
    if (cfg.API_JWT_PUBLIC_KEY && cfg.API_JWT_JWKS_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['API_JWT_JWKS_URL'],
        message: 'set API_JWT_PUBLIC_KEY or API_JWT_JWKS_URL, not both',
      });
    }
  });

/** The pinned JWT algorithms: as configured, else HS256 with a secret and RS256 with a key. */
export function jwtAlgorithms(
  cfg: Pick<WebConfig, 'API_JWT_ALGORITHMS' | 'API_JWT_SECRET' | 'API_JWT_PUBLIC_KEY' | 'API_JWT_JWKS_URL'>,
): string[] {
  if (cfg.API_JWT_ALGORITHMS.length > 0) return cfg.API_JWT_ALGORITHMS;
  return [
    ...(cfg.API_JWT_SECRET ? ['HS256'] : []),
    ...(cfg.API_JWT_PUBLIC_KEY || cfg.API_JWT_JWKS_URL ? ['RS256'] : []),
  ];
}

export type WebConfig = z.infer<typeof webConfigSchema>;

export const loadWebConfig = (env: NodeJS.ProcessEnv = process.env): WebConfig =>
  loadConfig(webConfigSchema, env);
