import { z } from 'zod';
import { parseEgressAllowlist } from './address-policy.ts';

/**
 * The egress package's slice of a service's config. `EGRESS_ALLOWLIST`: internal destinations
 * outbound requests may reach anyway — comma-separated CIDR ranges, addresses or host names
 * (`*.corp.lan`), each optionally `:port`, e.g. `10.20.0.0/16,wiki.corp.lan,[fd00::/8]:443`.
 * Public addresses need no entry; cloud metadata addresses can never be allowed. Every service
 * that makes requests for a user (http_fetch, the browser, scheduler http steps) reads it the same.
 */
export const egressConfigShape = {
  EGRESS_ALLOWLIST: z
    .string()
    .default('')
    .transform((s, ctx) => {
      try {
        return parseEgressAllowlist(s);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
};
