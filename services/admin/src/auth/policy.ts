import type { AdminRole } from '@switchboard/core';

/** `public`: no token needed (logging in); otherwise the least role a request needs. */
export type Needed = AdminRole | 'public';

// Changes an operator may make; every other change under /admin/api/ needs an admin.
const OPERATOR_API: Array<[string, RegExp]> = [
  ['POST', /^\/admin\/api\/parking\/[^/]+\/replay$/],
  ['DELETE', /^\/admin\/api\/parking\/[^/]+$/],
  ['POST', /^\/admin\/api\/pairing\/[^/]+\/(approve|deny)$/],
  ['DELETE', /^\/admin\/api\/pairing\/blocklist\/[^/]+$/],
  ['POST', /^\/admin\/api\/workflows\/[^/]+\/run$/],
];

/**
 * The one policy: the admin API's own routes and nginx's auth_request (GET /auth) both ask it, so
 * the console's door and its rooms never disagree.
 */
export function requiredRole(method: string, uri: string): Needed {
  const m = method.toUpperCase();
  let path = uri.split('?')[0] ?? '/';
  try {
    path = decodeURIComponent(path);
  } catch {
    // A malformed escape is matched as written; at worst it needs the stricter role below.
  }
  // Dot segments could walk from a permissive prefix into a strict one.
  if (/(^|\/)\.\.?(\/|$)/.test(path) || path.includes('//')) return 'admin';
  const read = m === 'GET' || m === 'HEAD';
  if ((path === '/admin/login' || path === '/admin/logout') && m === 'POST') return 'public';
  if (path.startsWith('/admin/api/tokens')) return 'admin';
  if (read) return 'viewer';
  if (path.startsWith('/rabbitmq/')) return 'admin';
  if (path.startsWith('/alertmanager/')) return 'operator';
  if (path.startsWith('/kibana/')) return 'viewer';
  if (path === '/admin/queues' || path.startsWith('/admin/queues/')) return 'operator';
  if (path.startsWith('/admin/api/')) {
    for (const [method, re] of OPERATOR_API) if (method === m && re.test(path)) return 'operator';
    return 'admin';
  }
  return 'admin';
}
