import { expect } from 'vitest';

export type LogLine = Record<string, unknown>;

/**
 * An ECS field as Elasticsearch reads it: `{"log.level": …}` and `{"log": {"level": …}}` are the
 * same field, and the ECS formatter writes both shapes.
 */
export function field(line: LogLine | undefined, path: string): unknown {
  if (!line) return undefined;
  if (path in line) return line[path];
  const [head, ...rest] = path.split('.');
  const next = line[head!];
  if (rest.length === 0) return next;
  if (next === null || typeof next !== 'object') {
    // `labels.platform` may sit under a dotted parent such as `{"labels": …}` only; try joining.
    for (let i = 2; i <= rest.length + 1; i++) {
      const key = path.split('.').slice(0, i).join('.');
      if (key in line) return field({ [key]: line[key] } as LogLine, path);
    }
    return undefined;
  }
  return field(next as LogLine, rest.join('.'));
}

/** Parses every line and checks the fields Filebeat's ndjson parser and our index template rely on. */
export function expectEcsLines(
  service: string,
  lines: string[],
  o: { alsoFrom?: string[]; mayBeEmpty?: boolean } = {},
): LogLine[] {
  if (!o.mayBeEmpty) expect(lines.length, `${service} wrote nothing`).toBeGreaterThan(0);
  // A service's child processes (tool-runner's sandbox) share its output under their own name.
  const names = [service, ...(o.alsoFrom ?? [])];
  return lines.map((raw) => {
    let line: LogLine;
    try {
      line = JSON.parse(raw) as LogLine;
    } catch {
      throw new Error(`${service} wrote a line that is not JSON: ${raw}`);
    }
    expect(line, raw).toBeTypeOf('object');
    const ts = field(line, '@timestamp');
    expect(typeof ts === 'string' && !Number.isNaN(Date.parse(ts)), `@timestamp in ${raw}`).toBe(true);
    expect(field(line, 'log.level'), raw).toMatch(/^(error|warn|info|http|verbose|debug|silly)$/);
    expect(typeof field(line, 'message'), raw).toBe('string');
    expect(field(line, 'ecs.version'), raw).toMatch(/^\d+\.\d+/);
    expect(names, raw).toContain(field(line, 'service.name'));
    return line;
  });
}

/** Fails naming the service and line when any secret value occurs anywhere in the text. */
export function expectNoSecrets(where: string, lines: string[], secrets: Record<string, string>): void {
  for (const raw of lines) {
    for (const [name, value] of Object.entries(secrets)) {
      expect(raw.includes(value), `${where} logged ${name}: ${raw}`).toBe(false);
    }
  }
}
