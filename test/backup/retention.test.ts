import { describe, expect, it } from 'vitest';
import { type DatedBackup, selectRetained } from '../../services/backup/src/retention.ts';

const at = (iso: string): DatedBackup => ({ id: iso, createdAt: new Date(iso) });

/** One backup a day at 03:00 UTC for `days` days ending on `last`. */
function daily(last: string, days: number): DatedBackup[] {
  const end = Date.parse(last);
  return Array.from({ length: days }, (_, i) => at(new Date(end - i * 86_400_000).toISOString()));
}

describe('selectRetained', () => {
  const policy = { daily: 7, weekly: 4, monthly: 6, timeZone: 'UTC' };

  it('keeps 7 daily, the newest of 4 ISO weeks and of 6 months from a year of daily backups', () => {
    const kept = [...selectRetained(daily('2026-11-23T03:00:00.000Z', 365), policy)].sort();
    expect(kept).toEqual(
      [
        // months: newest backup of Jun..Nov 2026 (Nov's is the newest overall)
        '2026-06-30T03:00:00.000Z',
        '2026-07-31T03:00:00.000Z',
        '2026-08-31T03:00:00.000Z',
        '2026-09-30T03:00:00.000Z',
        '2026-10-31T03:00:00.000Z',
        // weeks: Sundays ending ISO weeks 45..47 (week 48 starts Mon 23rd: its newest is the 23rd)
        '2026-11-08T03:00:00.000Z',
        '2026-11-15T03:00:00.000Z',
        // days: 17th..23rd (the 22nd is also week 47's Sunday)
        '2026-11-17T03:00:00.000Z',
        '2026-11-18T03:00:00.000Z',
        '2026-11-19T03:00:00.000Z',
        '2026-11-20T03:00:00.000Z',
        '2026-11-21T03:00:00.000Z',
        '2026-11-22T03:00:00.000Z',
        '2026-11-23T03:00:00.000Z',
      ].sort(),
    );
  });

  it('keeps only the newest of several backups taken the same day', () => {
    const backups = [
      at('2026-11-23T03:00:00.000Z'),
      at('2026-11-23T12:00:00.000Z'),
      at('2026-11-23T18:30:00.000Z'),
    ];
    expect([...selectRetained(backups, policy)]).toEqual(['2026-11-23T18:30:00.000Z']);
  });

  it('counts periods that have backups, so a gap does not delete older ones early', () => {
    const backups = [
      at('2026-11-23T03:00:00.000Z'),
      at('2026-10-01T03:00:00.000Z'),
      at('2026-09-01T03:00:00.000Z'),
    ];
    expect(selectRetained(backups, { daily: 3, weekly: 0, monthly: 0, timeZone: 'UTC' }).size).toBe(3);
  });

  it('keeps the newest backup even when every count is zero', () => {
    const backups = daily('2026-11-23T03:00:00.000Z', 3);
    expect([...selectRetained(backups, { daily: 0, weekly: 0, monthly: 0, timeZone: 'UTC' })]).toEqual([
      '2026-11-23T03:00:00.000Z',
    ]);
  });

  it('puts days in BACKUP_TZ: 23:30 and 01:00 UTC are two days in UTC, one day in Shanghai', () => {
    const backups = [at('2026-11-22T23:30:00.000Z'), at('2026-11-23T01:00:00.000Z')];
    const p = { daily: 7, weekly: 0, monthly: 0 };
    expect(selectRetained(backups, { ...p, timeZone: 'UTC' }).size).toBe(2);
    expect([...selectRetained(backups, { ...p, timeZone: 'Asia/Shanghai' })]).toEqual([
      '2026-11-23T01:00:00.000Z',
    ]);
  });

  it('assigns ISO weeks across a year end (2026-12-31 and 2027-01-03 share week 53)', () => {
    const backups = [
      at('2026-12-31T03:00:00.000Z'),
      at('2027-01-03T03:00:00.000Z'),
      at('2027-01-04T03:00:00.000Z'),
    ];
    expect([...selectRetained(backups, { daily: 0, weekly: 2, monthly: 0, timeZone: 'UTC' })].sort()).toEqual(
      ['2027-01-03T03:00:00.000Z', '2027-01-04T03:00:00.000Z'],
    );
  });
});
