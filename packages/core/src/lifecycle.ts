import { ErrorCodes, errorMessage, isSwitchboardError } from './errors.ts';
import { createLogger, type Logger } from './logger.ts';

/**
 * What a crash runs: the service's stop steps once handleShutdown registered them, with exit code 1.
 * Module state because the process has one lifecycle; runMain and handleShutdown share it.
 */
let stopProcess: ((reason: string, exitCode: number) => void) | undefined;
let crashLog: Logger | undefined;

/**
 * An unhandled rejection or uncaught exception leaves the process in a state nobody reasoned
 * about: log it (ECS, on the service's logger once it has one) and stop the way a SIGTERM does —
 * intake closed, work drained, connections closed — but with exit code 1 so the orchestrator
 * restarts it and the crash is visible.
 */
function onFatal(
  serviceName: string,
  kind: 'unhandled rejection' | 'uncaught exception',
  err: unknown,
): void {
  const log = crashLog ?? createLogger(serviceName, 'error', { stderr: true });
  const e = err instanceof Error ? err : undefined;
  log.error(`${serviceName}: ${kind}: ${errorMessage(err)}`, {
    error: {
      code: ErrorCodes.PROCESS_CRASHED,
      type: e?.name ?? typeof err,
      message: errorMessage(err),
      ...(e?.stack ? { stack_trace: e.stack } : {}),
    },
    labels: { crash: kind },
  });
  if (stopProcess) stopProcess(kind, 1);
  else process.exit(1);
}

/**
 * Runs a service's start function; a configuration error prints the keys at fault and exits 78
 * (EX_CONFIG) so an orchestrator does not mistake it for a crash worth retrying quickly. Every
 * service starts here, so this is where the process-wide crash handlers are installed.
 */
export function runMain(serviceName: string, start: () => Promise<void>): void {
  process.on('unhandledRejection', (err) => onFatal(serviceName, 'unhandled rejection', err));
  process.on('uncaughtException', (err) => onFatal(serviceName, 'uncaught exception', err));
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
 * longer than the timeout, exits 1 so the orchestrator knows the stop was not clean. A crash
 * (see runMain) runs the same steps and exits 1.
 */
export function handleShutdown(
  log: Logger,
  timeoutMs: number,
  steps: Array<[string, () => Promise<void>]>,
): void {
  let started = false;
  let exitCode = 0;
  const shutdown = async (reason: string, code: number) => {
    // A crash during a signal's stop (or a second crash) still makes the exit a failure.
    exitCode = Math.max(exitCode, code);
    if (started) return;
    started = true;
    log.info('shutting down', { labels: { signal: reason } });
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
    log.info('shutdown complete', { labels: { exit_code: String(exitCode) } });
    process.exit(exitCode);
  };
  crashLog = log;
  stopProcess = (reason, code) => void shutdown(reason, code);
  process.once('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.once('SIGINT', () => void shutdown('SIGINT', 0));
}
