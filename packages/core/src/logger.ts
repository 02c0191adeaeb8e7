import { ecsFormat } from '@elastic/ecs-winston-format';
import winston from 'winston';
import type TransportStream from 'winston-transport';

/** Field names whose values are never written, whatever object they sit in. */
const SECRET_KEY = /pass(word)?|secret|token|authorization|api[-_]?key|cookie|credential/i;
const SECRET_VALUE =
  /((?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+|(amqps?|postgres(?:ql)?|rediss?|https?):\/\/([^:/\s@]*):([^@\s]+)@|(\/bot)\d+:[A-Za-z0-9_-]+/g;
/** A `_FILE` variable holds the path to a secret, not the secret. */
const NOT_SECRET_KEY = /_FILE$/i;
/** Further environment names that hold secrets but would be too broad as log field names. */
const SECRET_ENV_KEY = /(?:^|_)(?:key|dsn)$/i;
/** Shorter values are too likely to occur in ordinary text (a port, a word) to be masked everywhere. */
const MIN_SECRET_LENGTH = 8;

/**
 * Exact secret values masked wherever they appear, even in free text: patterns only catch secrets
 * that look like one (a URL password, a bearer token), not a key quoted in an error message.
 */
const knownSecrets = new Set<string>();
let knownSorted: string[] = [];

/** Masks `value` in every line from now on, e.g. a secret read from a file or from Vault. */
export function registerSecret(value: string | undefined): void {
  // Numbers and switches are settings that happen to be named like secrets (MAX_TOKENS=4096).
  if (!value || value.length < MIN_SECRET_LENGTH || /^(?:\d+|true|false)$/i.test(value)) return;
  if (knownSecrets.has(value)) return;
  knownSecrets.add(value);
  // Longest first, so a secret containing another is masked whole.
  knownSorted = [...knownSecrets].sort((a, b) => b.length - a.length);
}

/** Registers the values of secret-named variables and the passwords inside connection URLs. */
export function registerEnvSecrets(env: NodeJS.ProcessEnv): void {
  for (const [key, value] of Object.entries(env)) {
    if (!value) continue;
    if ((SECRET_KEY.test(key) || SECRET_ENV_KEY.test(key)) && !NOT_SECRET_KEY.test(key)) {
      registerSecret(value);
      // Lists such as API_TOKENS=a,b: each entry is a secret on its own.
      for (const part of value.split(',')) registerSecret(part.trim());
    }
    if (value.includes('://') && value.includes('@')) {
      try {
        const { password } = new URL(value);
        if (password) {
          registerSecret(password);
          registerSecret(decodeURIComponent(password));
        }
      } catch {
        // Not a URL; nothing to take from it.
      }
    }
  }
}

function maskKnown(s: string): string {
  let out = s;
  for (const secret of knownSorted) if (out.includes(secret)) out = out.split(secret).join('***');
  return out;
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    return maskKnown(value).replace(
      SECRET_VALUE,
      (_m, bearer: string | undefined, scheme: string, user: string, _pw: string, bot: string | undefined) =>
        bearer ? `${bearer}***` : bot ? `${bot}***` : `${scheme}://${user}:***@`,
    );
  }
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    // A connection error's message often quotes the URL it failed on, password included.
    const copy = new Error(redact(value.message) as string);
    copy.name = value.name;
    copy.stack = redact(value.stack ?? '') as string;
    if (value.cause !== undefined) copy.cause = redact(value.cause, depth + 1);
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
  // `log.error(err)` makes the Error itself the info object: its message and stack are not enumerable.
  for (const key of new Set([...Object.keys(info), 'message', 'stack', 'cause'])) {
    if (!(key in info)) continue;
    if (key === 'level') continue;
    const v = info[key];
    info[key] = SECRET_KEY.test(key) && typeof v !== 'object' ? '***' : redact(v);
  }
  return info;
});

export type Logger = winston.Logger;

/** Sees every line a logger of this process writes, after redaction, as the JSON written to stdout. */
export type LogSink = (line: string, meta: { level: string }) => void;
const sinks = new Set<LogSink>();

/** Adds a sink (e.g. the log shipper); returns its removal. A sink must not log itself. */
export function addLogSink(sink: LogSink): () => void {
  sinks.add(sink);
  return () => sinks.delete(sink);
}

const MESSAGE = Symbol.for('message');

// A transport, not a format: transports apply the level filter, so sinks see what stdout sees.
const Transport = (winston as unknown as { Transport: typeof TransportStream }).Transport;
class SinkTransport extends Transport {
  override log(info: Record<string | symbol, unknown>, next: () => void): void {
    const line = info[MESSAGE];
    if (typeof line === 'string') {
      for (const sink of sinks) {
        try {
          sink(line, { level: String(info.level) });
        } catch {
          // A sink's failure must never cost the line its stdout record.
        }
      }
    }
    next();
  }
}

/**
 * ECS JSON to stdout. Callers attach `trace: { id }` and `labels: { platform, conversation }` to
 * each line so one message can be followed across services in Kibana.
 */
export function createLogger(serviceName: string, level = 'info', o: { stderr?: boolean } = {}): Logger {
  registerEnvSecrets(process.env);
  return winston.createLogger({
    level,
    format: winston.format.combine(redactFormat(), ecsFormat({ serviceName, apmIntegration: false })),
    transports: [
      new winston.transports.Console(
        o.stderr ? { stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] } : {},
      ),
      new SinkTransport(),
    ],
  });
}

/** Fields that tie a log line to one message. */
export function traceFields(traceId: string, labels: Record<string, string | undefined> = {}) {
  return { trace: { id: traceId }, labels };
}
