import type { Alert, AlertmanagerPayload } from './alertmanager-payload.ts';

/** WeCom refuses markdown content over 4096 bytes (UTF-8). */
export const WECOM_MAX_BYTES = 4_096;
/** DingTalk documents no exact limit; past ~5000 characters messages arrive cut or not at all. */
export const DINGTALK_MAX_CHARS = 5_000;
/** Alerts listed one by one; the rest are counted, so a storm stays one readable message. */
const MAX_LISTED = 10;

export interface RenderedAlert {
  /** "[FIRING:3] ServiceDown" / "[RESOLVED] ServiceDown": the line a phone shows in its notification. */
  title: string;
  firing: boolean;
  lines: string[];
}

/** The target-neutral content of a notification: what happened, to what, since when, where to read on. */
export function describeGroup(p: AlertmanagerPayload): RenderedAlert {
  const firing = p.alerts.filter((a) => a.status === 'firing');
  const resolved = p.alerts.filter((a) => a.status === 'resolved');
  const name = p.groupLabels.alertname ?? p.commonLabels.alertname ?? 'alerts';
  const isFiring = p.status === 'firing';
  const title = isFiring ? `[FIRING:${firing.length + p.truncatedAlerts}] ${name}` : `[RESOLVED] ${name}`;
  const lines: string[] = [];
  const severity = p.commonLabels.severity;
  if (severity) lines.push(`severity: ${severity}`);
  if (p.commonAnnotations.summary) lines.push(p.commonAnnotations.summary);
  const section = (label: string, alerts: Alert[]) => {
    if (alerts.length === 0) return;
    lines.push(`${label} (${alerts.length}):`);
    for (const a of alerts.slice(0, MAX_LISTED)) lines.push(`- ${alertLine(a, p.commonLabels)}`);
    if (alerts.length > MAX_LISTED) lines.push(`- … and ${alerts.length - MAX_LISTED} more`);
  };
  section('Firing', firing);
  section('Resolved', resolved);
  if (p.truncatedAlerts > 0) lines.push(`(${p.truncatedAlerts} more not sent by Alertmanager)`);
  const runbook = p.commonAnnotations.runbook_url ?? firing[0]?.annotations.runbook_url;
  if (runbook) lines.push(`Runbook: ${runbook}`);
  return { title, firing: isFiring, lines };
}

function alertLine(a: Alert, common: Record<string, string>): string {
  // Labels every alert of the group shares are already in the title or severity line.
  const own = Object.entries(a.labels)
    .filter(([k, v]) => common[k] !== v)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const when = a.status === 'firing' ? `since ${shortTime(a.startsAt)}` : `resolved ${shortTime(a.endsAt)}`;
  const text = a.annotations.description ?? a.annotations.summary ?? '';
  return [own, when, text].filter(Boolean).join(' — ');
}

function shortTime(iso: string | undefined): string {
  const t = iso ? Date.parse(iso) : Number.NaN;
  return Number.isNaN(t) ? 'unknown' : `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** WeCom group-robot markdown: orange for firing, green for resolved (its only named colours). */
export function renderWecom(r: RenderedAlert): { msgtype: 'markdown'; markdown: { content: string } } {
  const colour = r.firing ? 'warning' : 'info';
  const body = [`<font color="${colour}">**${escapeMarkdown(r.title)}**</font>`, ...r.lines.map(quoteLine)];
  return { msgtype: 'markdown', markdown: { content: truncateBytes(body.join('\n'), WECOM_MAX_BYTES) } };
}

/** DingTalk robot markdown: `title` is the notification preview, `text` the message. */
export function renderDingtalk(r: RenderedAlert): {
  msgtype: 'markdown';
  markdown: { title: string; text: string };
} {
  const colour = r.firing ? '#D93026' : '#1E8E3E';
  const body = [
    `### <font color="${colour}">${escapeMarkdown(r.title)}</font>`,
    '',
    ...r.lines.map((l) => `${quoteLine(l)}\n`),
  ].join('\n');
  return {
    msgtype: 'markdown',
    markdown: {
      title: r.title,
      text: body.length > DINGTALK_MAX_CHARS ? `${body.slice(0, DINGTALK_MAX_CHARS - 1)}…` : body,
    },
  };
}

function quoteLine(line: string): string {
  const m = /^Runbook: (\S+)$/.exec(line);
  if (m) return `[Runbook](${m[1]})`;
  return line.startsWith('- ') ? `- ${escapeMarkdown(line.slice(2))}` : escapeMarkdown(line);
}

/**
 * NOTE: neither robot honours backslash escapes, so markdown in label values is left alone; only a
 * `<`, which could open a `<font>` tag and swallow the rest of the message, is neutralised.
 */
function escapeMarkdown(s: string): string {
  return s.replace(/</g, '‹');
}

function truncateBytes(s: string, max: number): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  let out = s;
  // Cut by characters so a multi-byte character is never split.
  while (Buffer.byteLength(`${out}…`, 'utf8') > max) out = out.slice(0, Math.max(0, out.length - 64));
  return `${out}…`;
}
