/**
 * The CLI's failures and their exit statuses. The numbers are part of the interface (scripts test
 * them), so they never change meaning; docs/cli.md lists them.
 */
export const ExitCode = {
  ok: 0,
  /** The command ran and failed, or found a problem (`status` with a service not ready). */
  failed: 1,
  /** Unknown command or flag, missing or malformed argument, missing setting. */
  usage: 2,
  /** The thing named (token, parked message, pairing request, workflow, backup) does not exist. */
  notFound: 3,
  /** No token, a bad/expired/revoked token, or a role too low for the action. */
  denied: 4,
  /** The admin API, the backup service, PostgreSQL or a service behind them could not be reached. */
  unreachable: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class CliError extends Error {
  override readonly name = 'CliError';

  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly opts: {
      /** The API's SB_ERR_* code when the error came from a service. */
      code?: string;
      /** Usage text printed after the message (unknown command, missing argument). */
      usage?: string;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: opts.cause });
  }
}

export const usageError = (message: string, usage: string) =>
  new CliError(ExitCode.usage, message, { usage });

/** Exit status for an HTTP error status of the admin API or the backup service. */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return ExitCode.denied;
  if (status === 404) return ExitCode.notFound;
  if (status === 400 || status === 413 || status === 422) return ExitCode.usage;
  if (status === 502 || status === 503 || status === 504) return ExitCode.unreachable;
  return ExitCode.failed;
}

/** Network errors that mean "nobody answered there" rather than "it answered badly". */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'ABORT_ERR',
]);

/** The errno-style code of a network error (also of one wrapped in `cause` or an AggregateError). */
export function networkErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNREACHABLE.has(code)) return code;
    const inner = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(inner)) {
      const found = inner.map(networkErrorCode).find(Boolean);
      if (found) return found;
    }
    if ((e as { name?: string }).name === 'TimeoutError') return 'ETIMEDOUT';
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
