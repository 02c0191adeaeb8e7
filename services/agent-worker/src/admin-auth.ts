import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, SwitchboardError } from '@switchboard/core';
import type { FastifyRequest } from 'fastify';

export const MIN_ADMIN_TOKEN_CHARS = 24;

/**
 * The bearer check of the worker's admin API (knowledge, tool calls). Digests of equal length are
 * compared, so the comparison leaks neither the token's length nor a matching prefix.
 */
export function adminGuard(adminToken: string, what: string): (req: FastifyRequest) => Promise<void> {
  if (typeof adminToken !== 'string' || adminToken.length < MIN_ADMIN_TOKEN_CHARS) {
    throw new SwitchboardError(
      ErrorCodes.CONFIG_INVALID,
      `ADMIN_TOKEN: at least ${MIN_ADMIN_TOKEN_CHARS} characters are required to serve ${what}`,
    );
  }
  const expected = createHash('sha256').update(adminToken).digest();
  return async (req) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) {
      throw new SwitchboardError(
        ErrorCodes.UNAUTHORIZED,
        'missing bearer token (Authorization: Bearer <ADMIN_TOKEN>)',
        {
          statusCode: 401,
        },
      );
    }
    const given = createHash('sha256').update(m[1]!).digest();
    if (!timingSafeEqual(given, expected)) {
      throw new SwitchboardError(ErrorCodes.UNAUTHORIZED, 'invalid admin token', { statusCode: 401 });
    }
  };
}
