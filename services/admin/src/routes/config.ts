import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { auditedChange, type Pool, platformSchema } from '@switchboard/core';
import { RoutingStore } from '@switchboard/routing';
import { describeIssues, skillFormat, yamlSkillSchema } from '@switchboard/skills';
import type { FastifyInstance } from 'fastify';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { actor, needs } from '../auth/auth.ts';
import { badRequest, parseInput } from '../errors.ts';

const nameParam = z.object({ name: z.string().min(1).max(64) });
const idParam = z.object({ id: z.string().min(1).max(20) });
const channelParams = z.object({
  platform: platformSchema,
  botId: z.string().min(1).max(256),
  channelId: z.string().min(1).max(256),
});
const channelBody = z.strictObject({ groupPolicy: z.enum(['mention', 'always']).nullable() });

function objectBody(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw badRequest('the body must be a JSON object');
  return body as Record<string, unknown>;
}

/**
 * Routing rules and agent profiles through the worker's own RoutingStore (its zod schemas and regex
 * guard; the tables' trigger NOTIFYs every worker, which reloads without a restart), channel
 * settings, and the skills folder read-only. Every change writes an audit row with before/after.
 */
export function registerConfigRoutes(app: FastifyInstance, o: { pool: Pool; skillsDir: string }): void {
  const store = new RoutingStore(o.pool);
  type Req = Parameters<typeof actor>[0];
  /** The change and its audit row (with before/after) in one transaction, on a store bound to it. */
  const change = <T>(
    req: Req,
    action: string,
    target: string,
    fn: (tx: RoutingStore, db: Pool) => Promise<{ before: unknown; after: T }>,
  ) =>
    auditedChange(o.pool, actor(req), async (db) => {
      const { before, after } = await fn(new RoutingStore(db), db);
      const id =
        target ||
        String((after as { id?: unknown; name?: unknown })?.id ?? (after as { name?: unknown })?.name ?? '');
      return {
        result: after,
        audit: { action, target: id, details: { before: before ?? null, after: after ?? null } },
      };
    });

  app.get('/admin/api/routes', needs('viewer'), async () => ({ routes: await store.listRules() }));
  app.post('/admin/api/routes', needs('admin'), async (req, reply) => {
    const body = objectBody(req.body);
    const rule = await change(req, 'route.create', '', async (tx) => ({
      before: null,
      after: await tx.createRule(body as never),
    }));
    return reply.status(201).send({ route: rule });
  });
  app.put('/admin/api/routes/:id', needs('admin'), async (req) => {
    const { id } = parseInput(idParam, req.params, 'route');
    const patch = objectBody(req.body);
    const after = await change(req, 'route.update', id, async (tx) => ({
      before: await tx.getRule(id),
      after: await tx.updateRule(id, patch as never),
    }));
    return { route: after };
  });
  app.delete('/admin/api/routes/:id', needs('admin'), async (req, reply) => {
    const { id } = parseInput(idParam, req.params, 'route');
    await change(req, 'route.delete', id, async (tx) => {
      const before = await tx.getRule(id);
      await tx.deleteRule(id);
      return { before, after: null };
    });
    return reply.status(204).send();
  });

  app.get('/admin/api/profiles', needs('viewer'), async () => ({ profiles: await store.listProfiles() }));
  app.post('/admin/api/profiles', needs('admin'), async (req, reply) => {
    const body = objectBody(req.body);
    const profile = await change(req, 'profile.create', '', async (tx) => ({
      before: null,
      after: await tx.createProfile(body as never),
    }));
    return reply.status(201).send({ profile });
  });
  app.put('/admin/api/profiles/:name', needs('admin'), async (req) => {
    const { name } = parseInput(nameParam, req.params, 'profile');
    const patch = objectBody(req.body);
    const after = await change(req, 'profile.update', name, async (tx) => ({
      before: await tx.getProfile(name),
      after: await tx.updateProfile(name, patch as never),
    }));
    return { profile: after };
  });
  app.delete('/admin/api/profiles/:name', needs('admin'), async (req, reply) => {
    const { name } = parseInput(nameParam, req.params, 'profile');
    await change(req, 'profile.delete', name, async (tx) => {
      const before = await tx.getProfile(name);
      await tx.deleteProfile(name);
      return { before, after: null };
    });
    return reply.status(204).send();
  });

  app.get('/admin/api/channels', needs('viewer'), async () => {
    const { rows } = await o.pool.query<{
      platform: string;
      bot_id: string;
      channel_id: string;
      group_policy: string | null;
      updated_at: Date;
    }>(
      'SELECT platform, bot_id, channel_id, group_policy, updated_at FROM channel_settings ORDER BY platform, bot_id, channel_id',
    );
    return {
      channels: rows.map((r) => ({
        platform: r.platform,
        botId: r.bot_id,
        channelId: r.channel_id,
        groupPolicy: r.group_policy,
        updatedAt: r.updated_at,
      })),
    };
  });
  // Connectors cache a channel's policy for a few seconds (ChannelPolicy): no restart, no NOTIFY needed.
  app.put('/admin/api/channels/:platform/:botId/:channelId', needs('admin'), async (req) => {
    const p = parseInput(channelParams, req.params, 'channel');
    const body = parseInput(channelBody, req.body, 'body');
    const target = `${p.platform}/${p.botId}/${p.channelId}`;
    await change(req, 'channel.update', target, async (_tx, db) => {
      const before = await db.query<{ group_policy: string | null }>(
        'SELECT group_policy FROM channel_settings WHERE platform = $1 AND bot_id = $2 AND channel_id = $3',
        [p.platform, p.botId, p.channelId],
      );
      await db.query(
        `INSERT INTO channel_settings (platform, bot_id, channel_id, group_policy) VALUES ($1, $2, $3, $4)
         ON CONFLICT (platform, bot_id, channel_id) DO UPDATE SET group_policy = $4, updated_at = now()`,
        [p.platform, p.botId, p.channelId, body.groupPolicy],
      );
      return { before: before.rows[0] ? { groupPolicy: before.rows[0].group_policy } : null, after: body };
    });
    return { channel: { ...p, groupPolicy: body.groupPolicy } };
  });

  app.get('/admin/api/skills', needs('viewer'), async () => ({ skills: await listSkills(o.skillsDir) }));
}

/**
 * What the skills folder holds. YAML skills are parsed and validated; module skills are listed by
 * file only: importing them would run their code inside the admin service.
 */
export async function listSkills(dir: string) {
  let files: string[];
  try {
    files = (await readdir(dir)).sort();
  } catch {
    return [];
  }
  const out: Array<{
    name: string | null;
    file: string;
    source: 'yaml' | 'module';
    triggers: unknown[] | null;
    description: string | null;
    problem?: string;
  }> = [];
  for (const file of files) {
    const format = skillFormat(file);
    if (!format) continue;
    if (format === 'module') {
      out.push({ name: null, file, source: 'module', triggers: null, description: null });
      continue;
    }
    try {
      const parsed = yamlSkillSchema.safeParse(parseYaml(await readFile(join(dir, file), 'utf8')));
      if (parsed.success) {
        out.push({
          name: parsed.data.name,
          file,
          source: 'yaml',
          triggers: parsed.data.triggers,
          description: parsed.data.description,
        });
      } else {
        out.push({
          name: null,
          file,
          source: 'yaml',
          triggers: null,
          description: null,
          problem: describeIssues(parsed.error),
        });
      }
    } catch (err) {
      out.push({
        name: null,
        file,
        source: 'yaml',
        triggers: null,
        description: null,
        problem: (err as Error).message,
      });
    }
  }
  return out;
}
