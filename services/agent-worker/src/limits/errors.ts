/** Stable codes of the shared model limits. */
export const LimitErrorCode = {
  /** The model's budget stayed exhausted for the whole allowed wait. */
  waitExceeded: 'SB_ERR_MODEL_LIMIT_WAIT',
} as const;

export type LimitErrorCode = (typeof LimitErrorCode)[keyof typeof LimitErrorCode];

export class LimitError extends Error {
  override readonly name = 'LimitError';
  /** Waiting again later may succeed. */
  readonly retryable = true;

  constructor(
    readonly code: LimitErrorCode,
    message: string,
    readonly model: string,
  ) {
    super(message);
  }
}
