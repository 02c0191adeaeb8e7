import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@switchboard/core';
import winston from 'winston';

/** Our real logger (redaction, ECS format) writing into memory instead of stdout, for assertions. */
export function capturedLogger(
  service: string,
  level = 'debug',
): { log: Logger; raw: () => string[]; lines: () => Array<Record<string, unknown>> } {
  const log = createLogger(service, level);
  let buf = '';
  log.clear();
  log.add(
    new winston.transports.Stream({
      stream: new Writable({
        write(chunk, _enc, cb) {
          buf += String(chunk);
          cb();
        },
      }),
    }),
  );
  const raw = () => buf.split('\n').filter((l) => l.trim() !== '');
  return { log, raw, lines: () => raw().map((l) => JSON.parse(l) as Record<string, unknown>) };
}
