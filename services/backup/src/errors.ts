/** Error codes of the backup service. Messages name files and components, never secrets. */
export const BackupErrorCode = {
  config: 'SB_ERR_BACKUP_CONFIG',
  usage: 'SB_ERR_BACKUP_USAGE',
  notFound: 'SB_ERR_BACKUP_NOT_FOUND',
  checksumMismatch: 'SB_ERR_BACKUP_CHECKSUM_MISMATCH',
  manifestInvalid: 'SB_ERR_BACKUP_MANIFEST_INVALID',
  componentFailed: 'SB_ERR_BACKUP_COMPONENT_FAILED',
  alreadyRunning: 'SB_ERR_BACKUP_ALREADY_RUNNING',
  restoreFailed: 'SB_ERR_BACKUP_RESTORE_FAILED',
  confirmationRequired: 'SB_ERR_BACKUP_CONFIRMATION_REQUIRED',
} as const;

export type BackupErrorCode = (typeof BackupErrorCode)[keyof typeof BackupErrorCode];

/** CLI exit status per code, so scripts can tell "corrupt backup" from "database down". */
export const exitCodes: Record<BackupErrorCode, number> = {
  SB_ERR_BACKUP_CONFIG: 78,
  SB_ERR_BACKUP_USAGE: 64,
  SB_ERR_BACKUP_NOT_FOUND: 66,
  SB_ERR_BACKUP_CHECKSUM_MISMATCH: 65,
  SB_ERR_BACKUP_MANIFEST_INVALID: 65,
  SB_ERR_BACKUP_COMPONENT_FAILED: 1,
  SB_ERR_BACKUP_ALREADY_RUNNING: 75,
  SB_ERR_BACKUP_RESTORE_FAILED: 1,
  SB_ERR_BACKUP_CONFIRMATION_REQUIRED: 64,
};

export class BackupError extends Error {
  override readonly name = 'BackupError';

  constructor(
    readonly code: BackupErrorCode,
    message: string,
    opts: { cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
  }
}

export function isBackupError(err: unknown): err is BackupError {
  return err instanceof BackupError;
}
