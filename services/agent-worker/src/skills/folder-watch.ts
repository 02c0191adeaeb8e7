import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from '@switchboard/core';

export interface FolderWatch {
  close(): void;
}

/**
 * Calls `onChange` once things have been quiet for `debounceMs` after a change in `dir` (and its
 * sub-folders when `recursive`). Editors save in several steps (temp file, rename, chmod), which arrive as a burst
 * of events; one reload per burst is enough.
 */
export function watchFolder(
  dir: string,
  onChange: () => void,
  opts: { debounceMs: number; log: Logger; what: string; recursive?: boolean },
): FolderWatch {
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  const fire = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, opts.debounceMs);
  };
  try {
    // persistent: false — a watch must not keep a stopping worker alive.
    watcher = watch(dir, { persistent: false, recursive: opts.recursive ?? false }, fire);
    watcher.on('error', (err) => {
      opts.log.warn(`${opts.what}: watching ${dir} stopped; changes need a restart`, {
        error: { message: err.message },
      });
      watcher?.close();
    });
  } catch (err) {
    opts.log.warn(`${opts.what}: cannot watch ${dir}; changes need a restart`, {
      error: { message: (err as Error).message },
    });
  }
  return {
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
