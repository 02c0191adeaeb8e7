// Every figure of the console comes from /admin/api with the session cookie.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let currentRole = 'viewer';
export function setRole(role) {
  currentRole = role;
}

/** Back to the login form, returning here afterwards. */
export function toLogin() {
  const next = location.pathname + location.search;
  location.assign(`/admin/login?next=${encodeURIComponent(next)}`);
}

/**
 * Calls the API. 401 sends the browser to the login form; 403 becomes "your role (…) cannot do
 * this"; any other error carries the API's own message.
 */
export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `the console cannot reach the admin service: ${err.message}`);
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.ok) return data;
  const code = data?.error?.code ?? `HTTP_${res.status}`;
  const message = data?.error?.message ?? `${method} ${path}: HTTP ${res.status}`;
  if (res.status === 401) {
    toLogin();
    throw new ApiError(401, code, `not logged in: ${message}`);
  }
  if (res.status === 403)
    throw new ApiError(403, code, `Your role (${currentRole}) cannot do this: ${message}`);
  throw new ApiError(res.status, code, message);
}

export const get = (path) => api('GET', path);

/** A query string from the non-empty values of an object. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}
