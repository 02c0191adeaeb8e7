import type { AdminRole } from '@switchboard/core';

/** `public`: no token needed (the login form); otherwise the least role a request needs. */
export type Needed = AdminRole | 'public';

/**
 * What nginx's auth_request asks before proxying a console (GET /auth with X-Original-URI). The
 * admin service's own routes each declare their role and check it themselves, so for /admin this
 * door only asks for a signed-in console user; the third-party consoles, which cannot check our
 * roles, are decided here, on the raw URI.
 */
export function requiredRole(method: string, uri: string): Needed {
  const m = method.toUpperCase();
  const path = uri.split('?')[0] ?? '/';
  // Escapes and dot segments are how a URI is made to look like another; nothing of ours needs
  // them, so they need the strictest role rather than a guess at what they decode to.
  // RabbitMQ's UI names the default vhost `/` as a `%2F` segment of its API: that one is allowed.
  const probe = path.startsWith('/rabbitmq/api/') ? path.replace(/\/%2F(?=\/|$)/gi, '/vhost') : path;
  if (/%|\\/.test(probe) || /(^|\/)\.\.?(\/|$)/.test(probe) || probe.includes('//')) return 'admin';
  const read = m === 'GET' || m === 'HEAD';
  if (path === '/admin/login' && (m === 'POST' || read)) return 'public';
  if (path.startsWith('/rabbitmq/')) return read ? 'viewer' : 'admin';
  if (path.startsWith('/alertmanager/')) return read ? 'viewer' : 'operator';
  if (path.startsWith('/kibana/')) return 'viewer';
  if (path === '/admin' || path.startsWith('/admin/')) return 'viewer';
  return 'admin';
}
