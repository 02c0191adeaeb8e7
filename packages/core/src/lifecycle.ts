import { ErrorCodes, errorMessage, isSwitchboardError } from './errors.ts';
import type { Logger } from './logger.ts';

/**
 * Runs a service's start function; a configuration error prints the keys at fault and exits 78
 * (EX_CONFIG) so an orchestrator does not mistake it for a crash worth retrying quickly.
 */
export function runMain(serviceName: string, start: () => Promise<void>): void {
  start().catch((err) => {
    if (isSwitchboardError(err) && err.code === ErrorCodes.CONFIG_INVALID) {
      process.stderr.write(`${serviceName}: ${err.message}\n`);
      process.exit(78);
    }
    process.stderr.write(`${serviceName}: failed to start: ${errorMessage(err)}\n`);
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
