/**
 * Every error Switchboard raises on purpose carries a stable code, so logs, metrics, HTTP replies
 * and parking-queue headers can be matched on without parsing messages.
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'SB_ERR_CONFIG_INVALID',
  ENVELOPE_INVALID: 'SB_ERR_ENVELOPE_INVALID',
  UNAUTHORIZED: 'SB_ERR_UNAUTHORIZED',
  FORBIDDEN: 'SB_ERR_FORBIDDEN',
  BAD_REQUEST: 'SB_ERR_BAD_REQUEST',
  PAYLOAD_TOO_LARGE: 'SB_ERR_PAYLOAD_TOO_LARGE',
  NOT_FOUND: 'SB_ERR_NOT_FOUND',
  BROKER_UNAVAILABLE: 'SB_ERR_BROKER_UNAVAILABLE',
  PUBLISH_FAILED: 'SB_ERR_PUBLISH_FAILED',
  DB_UNAVAILABLE: 'SB_ERR_DB_UNAVAILABLE',
  MIGRATION_FAILED: 'SB_ERR_MIGRATION_FAILED',
  MODEL_FAILED: 'SB_ERR_MODEL_FAILED',
  ALL_MODELS_FAILED: 'SB_ERR_ALL_MODELS_FAILED',
  TIMEOUT: 'SB_ERR_TIMEOUT',
  SHUTTING_DOWN: 'SB_ERR_SHUTTING_DOWN',
  PROCESSING_FAILED: 'SB_ERR_PROCESSING_FAILED',
  SIGNATURE_INVALID: 'SB_ERR_SIGNATURE_INVALID',
  PLATFORM_API_FAILED: 'SB_ERR_PLATFORM_API_FAILED',
  PLATFORM_RATE_LIMITED: 'SB_ERR_PLATFORM_RATE_LIMITED',
  ATTACHMENT_TOO_LARGE: 'SB_ERR_ATTACHMENT_TOO_LARGE',
  /** A file a platform event points at that is not on the platform's own file host: not fetched. */
  ATTACHMENT_REFUSED: 'SB_ERR_ATTACHMENT_REFUSED',
  /** An unhandled rejection or uncaught exception: logged, the service stopped, exit code 1. */
  PROCESS_CRASHED: 'SB_ERR_PROCESS_CRASHED',
  /** A state-changing request that a browser on another site could have been made to send. */
  CROSS_SITE: 'SB_ERR_CROSS_SITE',
  /** A body type the route does not take (form posts to a JSON API). */
  UNSUPPORTED_MEDIA_TYPE: 'SB_ERR_UNSUPPORTED_MEDIA_TYPE',
  /** A route registered without saying who may call it: refused, and the service does not start. */
  ACCESS_UNDECLARED: 'SB_ERR_ACCESS_UNDECLARED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  /** HTTP status when this error reaches a client; 500 unless the error is the caller's fault. */
  readonly statusCode: number;
  /** Whether trying the same work again later may succeed. */
  readonly retryable: boolean;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { statusCode?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'SwitchboardError';
    this.code = code;
    this.statusCode = opts.statusCode ?? 500;
    this.retryable = opts.retryable ?? false;
  }
}

export function isSwitchboardError(err: unknown): err is SwitchboardError {
  return err instanceof SwitchboardError;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
