import { z } from 'zod';

const labelSet = z.record(z.string(), z.string());

/** One alert as Alertmanager's webhook (payload version 4) carries it. */
export const alertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: labelSet,
  annotations: labelSet.default({}),
  startsAt: z.string(),
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().optional(),
});

/** https://prometheus.io/docs/alerting/latest/configuration/#webhook_config */
export const alertmanagerPayloadSchema = z.object({
  version: z.literal('4'),
  groupKey: z.string(),
  truncatedAlerts: z.number().int().min(0).default(0),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: labelSet.default({}),
  commonLabels: labelSet.default({}),
  commonAnnotations: labelSet.default({}),
  externalURL: z.string().default(''),
  alerts: z.array(alertSchema).min(1),
});

export type AlertmanagerPayload = z.infer<typeof alertmanagerPayloadSchema>;
export type Alert = z.infer<typeof alertSchema>;

/** The first problem with a payload, phrased with the path at fault, for a 400 reply. */
export function describeIssue(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid payload';
  const path = issue.path.join('.') || '(body)';
  return `${path}: ${issue.message}`;
}
