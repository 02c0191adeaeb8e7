import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (100 on every common Linux). */
export const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** utime+stime of one process in ms, or undefined when it is gone. */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return ((utime + stime) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Resident set size in bytes, or undefined when the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** `root` and every process below it (tsx may start helpers such as esbuild's service). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const ppid = parentOf(pid);
    if (ppid === undefined) continue;
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

export interface ServiceUsage {
  name: string;
  pid: number;
  /** CPU time (ms) of the service and its descendants at the last sample. */
  cpuMs: number;
  rssBytes: number;
  peakRssBytes: number;
}

/**
 * Samples CPU time and RSS of a set of processes (each with its descendants) at a fixed interval.
 * `mark()` returns the CPU consumed since a previous mark, so a measured window can exclude start-up
 * and warm-up.
 */
export class ProcSampler {
  readonly usage: ServiceUsage[];
  peakTotalRssBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private trees: number[][];
  private ticks = 0;
  /** CPU of descendants that have exited since we last saw them, kept so totals never go backwards. */
  private readonly lastCpu = new Map<number, number>();

  constructor(
    services: Array<{ name: string; pid: number }>,
    private readonly everyMs = 200,
  ) {
    this.usage = services.map((s) => ({ name: s.name, pid: s.pid, cpuMs: 0, rssBytes: 0, peakRssBytes: 0 }));
    this.trees = services.map((s) => [s.pid]);
  }

  start(): this {
    this.refreshTrees();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private refreshTrees(): void {
    this.trees = this.usage.map((u) => processTree(u.pid));
  }

  sample(): void {
    // Descendants are rare and long-lived; looking for new ones every 5 s is plenty.
    if (++this.ticks % 25 === 0) this.refreshTrees();
    let total = 0;
    this.usage.forEach((u, i) => {
      let cpu = 0;
      let rss = 0;
      for (const pid of this.trees[i] ?? []) {
        const c = cpuMs(pid);
        if (c !== undefined) this.lastCpu.set(pid, c);
        cpu += c ?? this.lastCpu.get(pid) ?? 0;
        rss += rssBytes(pid) ?? 0;
      }
      u.cpuMs = cpu;
      u.rssBytes = rss;
      if (rss > u.peakRssBytes) u.peakRssBytes = rss;
      total += rss;
    });
    if (total > this.peakTotalRssBytes) this.peakTotalRssBytes = total;
  }

  /** CPU time per service (ms) now; pass it back to {@link since} to get a window's usage. */
  snapshot(): number[] {
    this.sample();
    return this.usage.map((u) => u.cpuMs);
  }

  since(snap: number[]): number[] {
    const now = this.snapshot();
    return now.map((c, i) => c - (snap[i] ?? 0));
  }
}

/**
 * CPU time (ms) of every process whose command name is one of `comms`, summed per name: for the
 * third-party servers on the machine (beam.smp for RabbitMQ, postgres). Processes that exit between
 * two readings drop out, so a difference of two readings is a lower bound.
 */
export function cpuByComm(comms: string[]): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(comms.map((c) => [c, 0]));
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!(comm in out)) continue;
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[comm]! += ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK;
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Busy, stolen (by the hypervisor) and total jiffies of the whole machine, from /proc/stat. */
export function machineCpu(): { busy: number; steal: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const total = f.slice(0, 8).reduce((x, y) => x + y, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const steal = f[7] ?? 0;
  return { busy: total - idle - steal, steal, total };
}
