/** Stable codes of the routing store and router; the admin API maps them to HTTP statuses. */
export const RoutingErrorCode = {
  /** A rule or profile failed validation; nothing was written. */
  invalid: 'SB_ERR_ROUTING_INVALID',
  /** A text pattern that could backtrack catastrophically (nested quantifiers, backreferences). */
  unsafeRegex: 'SB_ERR_ROUTING_UNSAFE_REGEX',
  /** No rule or profile with that id / name. */
  notFound: 'SB_ERR_ROUTING_NOT_FOUND',
  /** A profile of that name exists already. */
  exists: 'SB_ERR_ROUTING_EXISTS',
  /** The profile is the target of a rule and cannot be deleted. */
  profileInUse: 'SB_ERR_ROUTING_PROFILE_IN_USE',
} as const;

export type RoutingErrorCode = (typeof RoutingErrorCode)[keyof typeof RoutingErrorCode];

const STATUS: Record<RoutingErrorCode, number> = {
  SB_ERR_ROUTING_INVALID: 400,
  SB_ERR_ROUTING_UNSAFE_REGEX: 400,
  SB_ERR_ROUTING_NOT_FOUND: 404,
  SB_ERR_ROUTING_EXISTS: 409,
  SB_ERR_ROUTING_PROFILE_IN_USE: 409,
};

export class RoutingError extends Error {
  override readonly name = 'RoutingError';
  /** HTTP status when the error reaches an admin API client. */
  readonly statusCode: number;

  constructor(
    readonly code: RoutingErrorCode,
    message: string,
    opts: { cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.statusCode = STATUS[code];
  }
}
