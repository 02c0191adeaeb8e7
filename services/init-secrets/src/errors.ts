/** Error codes of init-secrets. Messages name files, never their contents. */
export const SecretsErrorCode = {
  /** A kept secret file is empty, spans several lines or contains whitespace. */
  invalid: 'SB_ERR_SECRET_INVALID',
  /** A setting of init-secrets itself is malformed. */
  config: 'SB_ERR_SECRETS_CONFIG',
} as const;

export type SecretsErrorCode = (typeof SecretsErrorCode)[keyof typeof SecretsErrorCode];

export class SecretsError extends Error {
  override readonly name = 'SecretsError';

  constructor(
    readonly code: SecretsErrorCode,
    message: string,
  ) {
    super(message);
  }
}
