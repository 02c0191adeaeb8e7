import {
  type AdminTokenStore,
  type Authenticator,
  type ConsoleSessions,
  consoleAuthenticator,
  type FastifyRouteAccess,
} from '@switchboard/core';

export { caller as actor } from '@switchboard/core';

/** The admin service's callers: console tokens (CLI, scripts) and console sessions (browsers). */
export function adminAuthenticators(tokens: AdminTokenStore, sessions: ConsoleSessions): Authenticator[] {
  return [consoleAuthenticator(tokens, sessions)];
}

/** Route options for a console route needing `role`. */
export const needs = (role: 'viewer' | 'operator' | 'admin'): FastifyRouteAccess => ({
  config: { access: { role } },
});
