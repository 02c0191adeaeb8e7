/** How many periods keep one backup each; the newest backup of a period is the one kept. */
export interface RetentionPolicy {
  daily: number;
  weekly: number;
  monthly: number;
  /** Periods are calendar days, ISO weeks and months in this zone. */
  timeZone: string;
}

export interface DatedBackup {
  id: string;
  createdAt: Date;
}

function localDate(d: Date, timeZone: string): { y: number; m: number; day: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
  }).formatToParts(d);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  return { y: get('year'), m: get('month'), day: get('day') };
}

function isoWeek(y: number, m: number, day: number): string {
  const date = new Date(Date.UTC(y, m - 1, day));
  const weekday = date.getUTCDay() || 7;
  // The Thursday of this week decides which year the week belongs to.
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((date.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${date.getUTCFullYear()}-W${week}`;
}

/**
 * The ids to keep, grandfather-father-son style: the newest backup of each of the last `daily`
 * days that have one, likewise for ISO weeks and months. The newest backup is always kept.
 */
export function selectRetained(backups: DatedBackup[], policy: RetentionPolicy): Set<string> {
  const newestFirst = [...backups].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  const keep = new Set<string>();
  if (newestFirst[0]) keep.add(newestFirst[0].id);
  const rules: Array<[number, (d: { y: number; m: number; day: number }) => string]> = [
    [policy.daily, (d) => `${d.y}-${d.m}-${d.day}`],
    [policy.weekly, (d) => isoWeek(d.y, d.m, d.day)],
    [policy.monthly, (d) => `${d.y}-${d.m}`],
  ];
  for (const [count, periodOf] of rules) {
    const seen = new Set<string>();
    for (const b of newestFirst) {
      if (seen.size >= count) break;
      const period = periodOf(localDate(b.createdAt, policy.timeZone));
      if (seen.has(period)) continue;
      seen.add(period);
      keep.add(b.id);
    }
  }
  return keep;
}
