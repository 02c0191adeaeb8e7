import { describe, expect, it } from 'vitest';
import { type AlertmanagerPayload, alertmanagerPayloadSchema } from './alertmanager-payload.ts';
import { describeGroup, renderDingtalk, renderWecom, WECOM_MAX_BYTES } from './render.ts';

function payload(
  alerts: Array<{ status: 'firing' | 'resolved'; instance: string }>,
  extra = {},
): AlertmanagerPayload {
  return alertmanagerPayloadSchema.parse({
    version: '4',
    groupKey: 'k',
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    receiver: 'chat-robots',
    groupLabels: { alertname: 'ServiceDown' },
    commonLabels: { alertname: 'ServiceDown', severity: 'critical' },
    commonAnnotations: { runbook_url: 'docs/runbooks/service-down.md' },
    alerts: alerts.map((a) => ({
      status: a.status,
      labels: { alertname: 'ServiceDown', severity: 'critical', instance: a.instance },
      annotations: { description: `${a.instance} cannot be scraped` },
      startsAt: '2026-11-23T08:00:00.123Z',
      endsAt: '2026-11-23T08:05:00Z',
    })),
    ...extra,
  });
}

describe('rendering alert groups', () => {
  it('lists firing and already resolved alerts of one group apart, with only their own labels', () => {
    const r = describeGroup(
      payload([
        { status: 'firing', instance: 'a:1' },
        { status: 'resolved', instance: 'b:2' },
      ]),
    );
    expect(r.title).toBe('[FIRING:1] ServiceDown');
    expect(r.lines).toEqual([
      'severity: critical',
      'Firing (1):',
      '- instance=a:1 — since 2026-11-23 08:00 UTC — a:1 cannot be scraped',
      'Resolved (1):',
      '- instance=b:2 — resolved 2026-11-23 08:05 UTC — b:2 cannot be scraped',
      'Runbook: docs/runbooks/service-down.md',
    ]);
  });

  it('counts alerts Alertmanager left out in the title', () => {
    const r = describeGroup(payload([{ status: 'firing', instance: 'a:1' }], { truncatedAlerts: 4 }));
    expect(r.title).toBe('[FIRING:5] ServiceDown');
    expect(r.lines).toContain('(4 more not sent by Alertmanager)');
  });

  it('keeps a storm to one message: ten alerts listed, the rest counted, WeCom under 4096 bytes', () => {
    const many = Array.from({ length: 300 }, (_, i) => ({
      status: 'firing' as const,
      instance: `实例-${i}-${'x'.repeat(40)}`,
    }));
    const r = describeGroup(payload(many));
    expect(r.lines.filter((l) => l.startsWith('- instance='))).toHaveLength(10);
    expect(r.lines).toContain('- … and 290 more');
    const long = { ...r, lines: r.lines.map((l) => l.repeat(20)) };
    const content = renderWecom(long).markdown.content;
    expect(Buffer.byteLength(content, 'utf8')).toBeLessThanOrEqual(WECOM_MAX_BYTES);
    expect(content.endsWith('…')).toBe(true);
  });

  it('renders firing and resolved in different colours on both robots', () => {
    const firing = describeGroup(payload([{ status: 'firing', instance: 'a:1' }]));
    const resolved = describeGroup(payload([{ status: 'resolved', instance: 'a:1' }]));
    expect(renderWecom(firing).markdown.content).toMatch(
      /^<font color="warning">\*\*\[FIRING:1\] ServiceDown\*\*<\/font>/,
    );
    expect(renderWecom(resolved).markdown.content).toMatch(
      /^<font color="info">\*\*\[RESOLVED\] ServiceDown\*\*<\/font>/,
    );
    expect(renderDingtalk(firing).markdown.title).toBe('[FIRING:1] ServiceDown');
    expect(renderDingtalk(resolved).markdown.text).toContain(
      '<font color="#1E8E3E">[RESOLVED] ServiceDown</font>',
    );
  });

  it('cannot be made to open a font tag from a label value', () => {
    const p = payload([{ status: 'firing', instance: '<font color="info">fine</font>' }]);
    expect(renderWecom(describeGroup(p)).markdown.content).not.toContain('<font color="info">fine');
  });
});
