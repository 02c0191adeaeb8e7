import { counter, type MetricsRegistry } from '@switchboard/core';

export function relayMetrics(registry: MetricsRegistry) {
  return {
    received: counter(
      registry,
      'alerts_received_total',
      'Alerts received from Alertmanager, by target and status',
      ['target', 'status'],
    ),
    sent: counter(registry, 'alert_notifications_sent_total', 'Notifications a robot accepted', ['target']),
    failed: counter(
      registry,
      'alert_notifications_failed_total',
      'Notifications given up on after every attempt',
      ['target'],
    ),
    skipped: counter(
      registry,
      'alert_notifications_skipped_total',
      'Notifications for a robot that is not configured (the alert is only in Alertmanager)',
      ['target'],
    ),
    attemptsFailed: counter(
      registry,
      'alert_notification_attempts_failed_total',
      'Single attempts a robot refused, by reason (error code)',
      ['target', 'reason'],
    ),
  };
}
export type RelayMetrics = ReturnType<typeof relayMetrics>;
