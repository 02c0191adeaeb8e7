import { ecsFormat } from '@elastic/ecs-winston-format';
import winston from 'winston';

/** Field names whose values are never written, whatever object they sit in. */
const SECRET_KEY = /pass(word)?|secret|token|authorization|api[-_]?key|cookie|credential/i;
const SECRET_VALUE =
  /((?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+|(amqps?|postgres(?:ql)?|rediss?|https?):\/\/([^:/\s@]*):([^@\s]+)@/g;

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    return value.replace(SECRET_VALUE, (_m, bearer: string | undefined, scheme: string, user: string) =>
      bearer ? `${bearer}***` : `${scheme}://${user}:***@`,
    );
  }
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    // A connection error's message often quotes the URL it failed on, password included.
    const copy = new Error(redact(value.message) as string);
    copy.name = value.name;
    copy.stack = redact(value.stack ?? '') as string;
    return copy;
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && typeof v !== 'object' ? '***' : redact(v, depth + 1);
  }
  return out;
}

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level') continue;
    const v = info[key];
    info[key] = SECRET_KEY.test(key) && typeof v !== 'object' ? '***' : redact(v);
  }
  return info;
});

export type Logger = winston.Logger;

/**
 * ECS JSON to stdout. Callers attach `trace: { id }` and `labels: { platform, conversation }` to
 * each line so one message can be followed across services in Kibana.
 */
export function createLogger(serviceName: string, level = 'info'): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(redactFormat(), ecsFormat({ serviceName, apmIntegration: false })),
    transports: [new winston.transports.Console()],
  });
}

/** Fields that tie a log line to one message. */
export function traceFields(traceId: string, labels: Record<string, string | undefined> = {}) {
  return { trace: { id: traceId }, labels };
}
