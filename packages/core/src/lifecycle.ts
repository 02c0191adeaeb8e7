import { ErrorCodes, errorMessage, isSwitchboardError } from './errors.ts';
import { createLogger, type Logger } from './logger.ts';

/**
 * Runs a service's start function; a configuration error prints the keys at fault and exits 78
 * (EX_CONFIG) so an orchestrator does not mistake it for a crash worth retrying quickly.
 */
export function runMain(serviceName: string, start: () => Promise<void>): void {
  start().catch((err) => {
    // Like every other line: ECS JSON (so the log pipeline keeps it) with secrets redacted, on
    // stderr, where an operator looks first when a container will not start.
    const log = createLogger(serviceName, 'error', { stderr: true });
    const code = isSwitchboardError(err) ? err.code : undefined;
    if (code === ErrorCodes.CONFIG_INVALID) {
      log.error(`${serviceName}: ${errorMessage(err)}`, { error: { code } });
      process.exit(78);
    }
    log.error(`${serviceName}: failed to start: ${errorMessage(err)}`, { error: { code } });
    process.exit(1);
  });
}

/**
 * On SIGTERM/SIGINT runs the steps in order (stop intake, drain, close) and exits 0; if they take
 * longer than the timeout, exits 1 so the orchestrator knows the stop was not clean.
 */
export function handleShutdown(
  log: Logger,
  timeoutMs: number,
  steps: Array<[string, () => Promise<void>]>,
): void {
  let started = false;
  const shutdown = async (signal: string) => {
    if (started) return;
    started = true;
    log.info('shutting down', { labels: { signal } });
    const timer = setTimeout(() => {
      log.error('shutdown timed out; exiting with work possibly unfinished (it will be redelivered)');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    for (const [name, step] of steps) {
      try {
        await step();
      } catch (err) {
        log.warn(`shutdown step ${name} failed`, { error: { message: errorMessage(err) } });
      }
    }
    log.info('shutdown complete');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
