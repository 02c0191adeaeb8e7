import { errorMessage, type Logger } from '@switchboard/core';
import type { SchedulerMetrics } from '../metrics.ts';
import type { WorkflowRegistry } from '../workflow/registry.ts';
import type { WorkflowQueue } from './workflow-queue.ts';

/**
 * One reload: re-read the workflows, then make the job schedulers match. Called at start, on a
 * file change, on NOTIFY and on a timer; failures are logged and the next call tries again.
 */
export function createReloader(
  registry: WorkflowRegistry,
  queue: WorkflowQueue,
  metrics: SchedulerMetrics,
  log: Logger,
): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const once = async () => {
    await registry.reload();
    const loaded = registry.list();
    metrics.loaded.set({ source: 'file' }, loaded.filter((w) => w.source === 'file').length);
    metrics.loaded.set({ source: 'database' }, loaded.filter((w) => w.source === 'database').length);
    metrics.invalid.set(registry.problems.length);
    await queue.syncSchedulers(loaded);
  };
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await once();
        } catch (err) {
          log.error('workflow reload failed; trying again at the next change or timer', {
            error: { message: errorMessage(err) },
          });
        }
      } while (again);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
}
