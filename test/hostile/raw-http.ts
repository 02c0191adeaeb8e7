import { request } from 'node:http';

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One HTTP request with the path exactly as written: fetch and URL would resolve dot segments and
 * re-encode, and an attacker's client does neither.
 */
export function rawRequest(
  base: string,
  method: string,
  path: string,
  o: { headers?: Record<string, string>; body?: string } = {},
): Promise<RawReply> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path,
        headers: {
          ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}),
          ...o.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

/**
 * Ways to spell a protected path so that a check on the raw URL and the router disagree: encoded
 * letters, encoded slashes and dots, dot segments, doubled slashes, case, trailing characters.
 * `path` starts with `/`; `seg` is a later segment of it whose first letter is encoded.
 */
export function spellings(path: string): string[] {
  const parts = path.split('/');
  const out = new Set<string>();
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i]!;
    if (!p || p.startsWith(':')) continue;
    const enc = [...parts];
    enc[i] = `%${p.charCodeAt(0).toString(16)}${p.slice(1)}`;
    out.add(enc.join('/'));
    const upper = [...parts];
    upper[i] = `%${p.charCodeAt(0).toString(16).toUpperCase()}${p.slice(1)}`;
    out.add(upper.join('/'));
  }
  const first = parts[1] ?? '';
  const rest = parts.slice(2).join('/');
  out.add(`/${first}/./${rest}`);
  out.add(`/${first}/x/../${rest}`);
  out.add(`/${first}/x/..%2F${rest}`);
  out.add(`/${first}/x/%2e%2e/${rest}`);
  out.add(`/${first}%2F${rest}`);
  out.add(`/${first}//${rest}`);
  out.add(`//${first}/${rest}`);
  out.add(path.toUpperCase());
  out.add(`${path};x`);
  out.add(`${path}%00`);
  out.add(`${path}%20`);
  out.add(`${path}/.`);
  out.add(`${path}?next=/admin/login`);
  out.add(`${path}#`);
  return [...out];
}
