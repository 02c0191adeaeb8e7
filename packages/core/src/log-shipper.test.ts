import { describe, expect, it } from 'vitest';
import { LogShipper } from './log-shipper.ts';
import { createLogger } from './logger.ts';
import { createMetricsRegistry } from './metrics.ts';

describe('LogShipper while the broker is away', () => {
  it('keeps a bounded buffer and counts what it dropped, without touching stdout logging', async () => {
    const registry = createMetricsRegistry('shipper-test');
    // Port 1: nothing listens, so the shipper never connects during this test.
    const shipper = new LogShipper({
      url: 'amqp://127.0.0.1:1',
      prefix: 'shiptest',
      service: 'shipper-test',
      registry,
      maxBuffered: 3,
      reconnectMs: 200,
    }).start();
    try {
      const log = createLogger('shipper-test', 'info');
      for (let i = 0; i < 5; i++) log.info(`line ${i}`);
      log.debug('below the level: neither on stdout nor shipped');
      const metrics = await registry.metrics();
      expect(metrics).toMatch(/switchboard_log_shipper_dropped_total\{[^}]*\} 2/);
      expect(shipper.connected).toBe(false);
    } finally {
      await shipper.close();
    }
  });
});
