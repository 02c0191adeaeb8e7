/** Stable codes of the scheduler; HTTP clients and logs match on them. */
export const WorkflowErrorCode = {
  /** A workflow file or stored definition failed validation; it is not loaded. */
  invalid: 'SB_ERR_WORKFLOW_INVALID',
  /** No (enabled, valid) workflow of that name. */
  notFound: 'SB_ERR_WORKFLOW_NOT_FOUND',
  /** The workflow exists but is disabled. */
  disabled: 'SB_ERR_WORKFLOW_DISABLED',
  /** A `{{ … }}` template named something that is not there when the step ran. */
  template: 'SB_ERR_WORKFLOW_TEMPLATE',
  /** A step attempt failed (the tool's error, an HTTP status, a model failure, a timeout). */
  stepFailed: 'SB_ERR_WORKFLOW_STEP_FAILED',
  /**
   * A step was refused before it did anything: the egress policy (an internal or metadata
   * address, a redirect to one), or a rendered value where the workflow must be literal.
   */
  refused: 'SB_ERR_WORKFLOW_STEP_REFUSED',
  /** The HTTP API has no token configured. */
  apiDisabled: 'SB_ERR_WORKFLOW_API_DISABLED',
} as const;

export type WorkflowErrorCode = (typeof WorkflowErrorCode)[keyof typeof WorkflowErrorCode];

const STATUS: Record<WorkflowErrorCode, number> = {
  SB_ERR_WORKFLOW_INVALID: 400,
  SB_ERR_WORKFLOW_NOT_FOUND: 404,
  SB_ERR_WORKFLOW_DISABLED: 409,
  SB_ERR_WORKFLOW_TEMPLATE: 500,
  SB_ERR_WORKFLOW_STEP_FAILED: 500,
  SB_ERR_WORKFLOW_STEP_REFUSED: 403,
  SB_ERR_WORKFLOW_API_DISABLED: 503,
};

export class WorkflowError extends Error {
  override readonly name = 'WorkflowError';
  /** HTTP status when the error reaches an API client. */
  readonly statusCode: number;
  /** Whether another attempt of the step may succeed (a refusal or a bad template never does). */
  readonly retryable: boolean;

  constructor(
    readonly code: WorkflowErrorCode,
    message: string,
    opts: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(message, { cause: opts.cause });
    this.statusCode = STATUS[code];
    this.retryable = opts.retryable ?? true;
  }
}
