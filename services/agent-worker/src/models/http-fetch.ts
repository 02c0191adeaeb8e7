import { Agent, request } from 'undici';

const agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });

/**
 * A `fetch` for the model SDKs built on undici's `request`. Node's global fetch (undici's WHATWG
 * layer, web streams) cost twice the CPU per model call in the benchmark; `request` is the same
 * library's lean path. The body is read whole, so this serves non-streaming calls only — which is
 * how the worker calls models.
 */
export async function bufferedFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const body = init?.body;
  if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    throw new TypeError('bufferedFetch sends string or byte bodies only');
  }
  const res = await request(input instanceof Request ? input.url : String(input), {
    method: (init?.method ?? 'GET') as 'GET',
    headers: Object.fromEntries(new Headers(init?.headers).entries()),
    body: body ?? undefined,
    signal: init?.signal ?? undefined,
    dispatcher: agent,
  });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
  }
  const noBody = res.statusCode === 204 || res.statusCode === 304;
  return new Response(noBody ? null : bytes, { status: res.statusCode, headers });
}
