import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errorMessage, type Logger } from '@switchboard/core';
import type { StoredWorkflow, Workflow } from '@switchboard/workflows';
import { parseWorkflow, type WorkflowLimits } from '@switchboard/workflows';

const MAX_FILE_BYTES = 256 * 1024;

export interface LoadedWorkflow {
  workflow: Workflow;
  source: 'file' | 'database';
  /** The file path, or `workflows/<name>` for a stored one. */
  ref: string;
  /** The YAML's `enabled`, and for a stored workflow its row's `enabled` too. */
  enabled: boolean;
}

export interface WorkflowProblem {
  source: 'file' | 'database';
  ref: string;
  reason: string;
}

export interface RegistryOptions {
  dir: string;
  limits: WorkflowLimits;
  log: Logger;
  /** The console's workflows; absent in tests that only use files. */
  stored?: () => Promise<StoredWorkflow[]>;
}

/**
 * The workflows this scheduler knows: the folder's `*.yaml` and the console's rows, validated on
 * every reload. An invalid one is refused and logged with the reason, once per distinct problem;
 * the valid ones keep running whatever their neighbours look like.
 */
export class WorkflowRegistry {
  private byName = new Map<string, LoadedWorkflow>();
  private current: WorkflowProblem[] = [];
  private readonly reported = new Set<string>();
  private missingDirLogged = false;

  constructor(private readonly o: RegistryOptions) {}

  get(name: string): LoadedWorkflow | undefined {
    return this.byName.get(name);
  }

  list(): LoadedWorkflow[] {
    return [...this.byName.values()].sort((a, b) => a.workflow.name.localeCompare(b.workflow.name));
  }

  get problems(): WorkflowProblem[] {
    return this.current;
  }

  /** Re-reads both sources; the caller serialises calls (see run/reloader.ts). */
  async reload(): Promise<void> {
    await this.load();
  }

  private async load(): Promise<void> {
    const next = new Map<string, LoadedWorkflow>();
    const problems: WorkflowProblem[] = [];
    for (const f of await this.files()) {
      if ('reason' in f) {
        problems.push({ source: 'file', ref: f.ref, reason: f.reason });
        continue;
      }
      const parsed = parseWorkflow(f.text, this.o.limits);
      if (!parsed.ok) {
        problems.push({ source: 'file', ref: f.ref, reason: parsed.reason });
        continue;
      }
      const other = next.get(parsed.workflow.name);
      if (other) {
        problems.push({
          source: 'file',
          ref: f.ref,
          reason: `name: "${parsed.workflow.name}" is already the name of ${other.ref}`,
        });
        continue;
      }
      const w = parsed.workflow;
      next.set(w.name, { workflow: w, source: 'file', ref: f.ref, enabled: w.enabled });
    }
    if (this.o.stored) {
      let rows: StoredWorkflow[];
      try {
        rows = await this.o.stored();
      } catch (err) {
        // Keep the stored workflows we had: a database hiccup must not unschedule them.
        this.o.log.warn('cannot read stored workflows; keeping the ones loaded before', {
          error: { message: errorMessage(err) },
        });
        for (const w of this.byName.values()) if (w.source === 'database') next.set(w.workflow.name, w);
        rows = [];
      }
      for (const row of rows) {
        const ref = `workflows/${row.name}`;
        const parsed = parseWorkflow(row.source, this.o.limits);
        if (!parsed.ok) {
          problems.push({ source: 'database', ref, reason: parsed.reason });
          continue;
        }
        const w = parsed.workflow;
        if (w.name !== row.name) {
          problems.push({ source: 'database', ref, reason: `name: "${w.name}" differs from the row's name` });
          continue;
        }
        const file = next.get(w.name);
        if (file) {
          problems.push({
            source: 'database',
            ref,
            reason: `name: "${w.name}" is already defined by ${file.ref}`,
          });
          continue;
        }
        next.set(w.name, { workflow: w, source: 'database', ref, enabled: row.enabled && w.enabled });
      }
    }
    this.byName = next;
    this.current = problems;
    this.report();
  }

  private report(): void {
    const now = new Set<string>();
    for (const p of this.current) {
      const key = `${p.ref}\n${p.reason}`;
      now.add(key);
      if (this.reported.has(key)) continue;
      this.o.log.error('workflow refused: invalid', {
        error: { code: 'SB_ERR_WORKFLOW_INVALID', message: p.reason },
        labels: { workflow_source: p.source, workflow_ref: p.ref },
      });
    }
    this.reported.clear();
    for (const k of now) this.reported.add(k);
  }

  private async files(): Promise<Array<{ ref: string; text: string } | { ref: string; reason: string }>> {
    const dir = resolve(this.o.dir);
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => /\.ya?ml$/i.test(n) && !n.startsWith('.')).sort();
      this.missingDirLogged = false;
    } catch (err) {
      if (!this.missingDirLogged) {
        this.o.log.warn('workflow folder not readable; no file workflows', {
          error: { message: errorMessage(err) },
          labels: { workflows_dir: dir },
        });
        this.missingDirLogged = true;
      }
      return [];
    }
    const out: Array<{ ref: string; text: string } | { ref: string; reason: string }> = [];
    for (const n of names) {
      const ref = join(this.o.dir, n);
      try {
        const s = await stat(join(dir, n));
        if (!s.isFile()) continue;
        if (s.size > MAX_FILE_BYTES) {
          out.push({ ref, reason: `the file is ${s.size} bytes, over the ${MAX_FILE_BYTES}-byte limit` });
          continue;
        }
        out.push({ ref, text: await readFile(join(dir, n), 'utf8') });
      } catch (err) {
        // Deleted between readdir and read (an editor's rename): the next reload sees the result.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        out.push({ ref, reason: `cannot read: ${errorMessage(err)}` });
      }
    }
    return out;
  }
}
