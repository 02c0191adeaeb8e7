/**
 * Stable codes for why secrets are not available. They live here rather than in ErrorCodes until
 * the lead folds them in; the strings are the contract, not the class.
 */
export const SecretsErrorCodes = {
  /** Vault answered 503 "Vault is sealed": an operator must unseal it (infra/vault/README.md). */
  SEALED: 'SB_ERR_SECRETS_SEALED',
  /** No answer from Vault (refused, reset, timeout, TLS failure) or a 5xx other than sealed. */
  UNREACHABLE: 'SB_ERR_SECRETS_UNREACHABLE',
  /** AppRole login refused: role_id or secret_id wrong, expired or used up. */
  AUTH_FAILED: 'SB_ERR_SECRETS_AUTH_FAILED',
  /** The token's policy does not allow reading the configured KV path. */
  FORBIDDEN: 'SB_ERR_SECRETS_FORBIDDEN',
  /** Nothing stored at the configured KV path, or a required key missing from it. */
  NOT_FOUND: 'SB_ERR_SECRETS_NOT_FOUND',
  /** The first read has not finished yet. */
  NOT_READY: 'SB_ERR_SECRETS_NOT_READY',
} as const;

export type SecretsErrorCode = (typeof SecretsErrorCodes)[keyof typeof SecretsErrorCodes];

/** Its message never carries a secret value, role_id, secret_id or token: it is logged and shown on /readyz. */
export class SecretsError extends Error {
  readonly code: SecretsErrorCode;
  /** Whether trying again later may succeed without an operator changing anything. */
  readonly retryable: boolean;

  constructor(code: SecretsErrorCode, message: string, retryable: boolean) {
    super(message);
    this.name = 'SecretsError';
    this.code = code;
    this.retryable = retryable;
  }
}

export function isSecretsError(err: unknown): err is SecretsError {
  return err instanceof SecretsError;
}
