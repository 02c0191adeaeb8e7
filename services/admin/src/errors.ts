import { ErrorCodes, SwitchboardError } from '@switchboard/core';

/** The admin API's refusals; every one reaches the client through core's single error handler. */
export const unauthorized = (why: string) =>
  new SwitchboardError(ErrorCodes.UNAUTHORIZED, why, { statusCode: 401 });
export const forbidden = (why: string) =>
  new SwitchboardError(ErrorCodes.FORBIDDEN, why, { statusCode: 403 });
export const notFound = (why: string) => new SwitchboardError(ErrorCodes.NOT_FOUND, why, { statusCode: 404 });
export const badRequest = (why: string) =>
  new SwitchboardError(ErrorCodes.BAD_REQUEST, why, { statusCode: 400 });
/** A dependency (broker, scheduler) did not answer; trying again later may work. */
export const unavailable = (
  why: string,
  code: (typeof ErrorCodes)[keyof typeof ErrorCodes] = ErrorCodes.BROKER_UNAVAILABLE,
) => new SwitchboardError(code, why, { statusCode: 503, retryable: true });
/** The request is fine but the thing's state forbids it (already decided, nowhere to go back to). */
export const conflict = (why: string) =>
  new SwitchboardError(ErrorCodes.BAD_REQUEST, why, { statusCode: 409 });

/** Parses with a zod schema and turns its complaint into a 400 naming the field. */
export function parseInput<T>(
  schema: {
    safeParse(
      v: unknown,
    ):
      | { success: true; data: T }
      | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } };
  },
  value: unknown,
  what: string,
): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues
    .map((i) => `${i.path.length ? `${i.path.map(String).join('.')}: ` : ''}${i.message}`)
    .join('; ');
  throw badRequest(`${what}: ${issues}`);
}
