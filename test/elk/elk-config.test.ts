import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * Elasticsearch, Kibana and Filebeat cannot run on this machine, so their configuration is checked
 * for the shapes those programs require, and setup.sh is run against a recorder standing in for
 * their HTTP APIs.
 */
const ELK = fileURLToPath(new URL('../../infra/elk/', import.meta.url));
const read = (p: string) => readFileSync(join(ELK, p), 'utf8');

type Obj = Record<string, unknown>;
const at = (o: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Obj)[k] : undefined), o);

/** Fields our services really write (packages/core/src/logger.ts, services/agent-worker/src/turn.ts). */
const LOGGED_FIELDS = [
  'log.level',
  'trace.id',
  'labels.platform',
  'service.name',
  'event.duration',
  'message',
];

describe('filebeat.yml', () => {
  const cfg = parse(read('filebeat.yml')) as Obj;
  const inputs = cfg['filebeat.inputs'] as Obj[];

  it('reads the container logs with a filestream input, container parser then ndjson', () => {
    const input = inputs.find((i) => i.type === 'filestream');
    expect(input).toBeDefined();
    expect(typeof input?.id).toBe('string');
    expect(input?.paths).toEqual(['/var/lib/docker/containers/*/*.log']);
    const parsers = input?.parsers as Obj[];
    expect(Object.keys(parsers[0] ?? {})).toEqual(['container']);
    const ndjson = parsers[1]?.ndjson as Obj;
    // Decoded fields at the root, where the index template maps them.
    expect(ndjson).toMatchObject({ target: '', overwrite_keys: true, expand_keys: true });
  });

  it('adds the compose labels from the log lines themselves, without the Docker socket', () => {
    const processors = cfg.processors as Obj[];
    expect(JSON.stringify(cfg)).not.toMatch(/docker\.sock|add_docker_metadata/);
    const script = at(
      processors.find((p) => 'script' in p),
      'script',
    ) as Obj;
    expect(script.lang).toBe('javascript');
    // Filebeat runs it in an ES5.1 engine with event.Get/Put/Delete; run it here on such an event.
    const fields: Obj = {
      'docker.attrs': {
        'com.docker.compose.service': 'agent-worker',
        'com.docker.compose.project': 'switchboard',
      },
    };
    const event = {
      Get: (k: string) => fields[k],
      Put: (k: string, v: unknown) => {
        fields[k] = v;
      },
      Delete: (k: string) => {
        delete fields[k];
      },
    };
    const run = new Function('event', `${String(script.source)}; process(event);`);
    run(event);
    expect(fields).toEqual({
      'labels.compose_service': 'agent-worker',
      'labels.compose_project': 'switchboard',
    });
    // A line without attrs (another logging setup) passes unchanged.
    const bare: Obj = {};
    run({ Get: (k: string) => bare[k], Put: () => {}, Delete: () => {} });
    expect(bare).toEqual({});
    const out = cfg['output.elasticsearch'] as Obj;
    expect(String(out.password)).toMatch(/^\$\{FILEBEAT_PASSWORD\}$/);
    expect(String(out.index)).toMatch(/^switchboard-logs-/);
    // The template and policy come from setup.sh; Filebeat's own would replace them.
    expect(cfg['setup.template.enabled']).toBe(false);
    expect(cfg['setup.ilm.enabled']).toBe(false);
  });
});

describe('index template and lifecycle policy', () => {
  const template = JSON.parse(read('elasticsearch/index-template.json')) as Obj;
  const policyText = read('elasticsearch/ilm-policy.json');

  it('has the fields Elasticsearch requires and maps the fields we search on', () => {
    expect(template.index_patterns).toEqual(['switchboard-logs-*']);
    expect(at(template, 'template.settings')).toMatchObject({ 'index.lifecycle.name': 'switchboard-logs' });
    const props = at(template, 'template.mappings.properties') as Obj;
    expect(props['@timestamp']).toEqual({ type: 'date' });
    for (const f of ['trace.id', 'log.level', 'service.name', 'labels.platform']) {
      const path = f.split('.').join('.properties.');
      expect(at(props, `${path}.type`), f).toBe('keyword');
    }
    expect(at(props, 'event.properties.duration.type')).toBe('long');
    // Every other label is a keyword too, whatever a service adds later.
    const dyn = at(template, 'template.mappings.dynamic_templates') as Obj[];
    expect(dyn.some((d) => at(Object.values(d)[0], 'path_match') === 'labels.*')).toBe(true);
    // Filebeat's index name must fall under the template.
    expect('switchboard-logs-default').toMatch(/^switchboard-logs-/);
  });

  it('goes hot → delete, deleting after the retention the setup script substitutes', () => {
    // The placeholder setup.sh substitutes, spelled as the shell variable it comes from.
    const placeholder = ['$', '{LOG_RETENTION_DAYS}'].join('');
    expect(policyText).toContain(`${placeholder}d`);
    const policy = JSON.parse(policyText.replace(placeholder, '14')) as Obj;
    const phases = at(policy, 'policy.phases') as Obj;
    expect(Object.keys(phases)).toEqual(['hot', 'delete']);
    expect(at(phases, 'hot.actions.rollover')).toBeDefined();
    expect(at(phases, 'delete.min_age')).toBe('14d');
    expect(at(phases, 'delete.actions.delete')).toEqual({});
  });
});

describe('Kibana saved objects', () => {
  const lines = read('kibana/saved-objects.ndjson')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const objects = lines.map((l) => JSON.parse(l) as Obj);
  const byKey = new Map(objects.map((o) => [`${o.type}:${o.id}`, o]));
  const ofType = (t: string) => objects.filter((o) => o.type === t);

  it('are each a saved object with type, id, attributes and references', () => {
    expect(objects.length).toBeGreaterThanOrEqual(6);
    for (const o of objects) {
      expect(typeof o.type, JSON.stringify(o)).toBe('string');
      expect(o.id).toMatch(/^[a-z0-9-]+$/);
      expect(typeof o.attributes).toBe('object');
      expect(typeof (o.attributes as Obj).title).toBe('string');
      expect(Array.isArray(o.references)).toBe(true);
    }
    expect(byKey.size).toBe(objects.length);
  });

  it('resolve every reference to an object in the file', () => {
    for (const o of objects) {
      for (const r of o.references as Obj[]) {
        expect(byKey.has(`${r.type}:${r.id}`), `${o.id} → ${r.type}:${r.id}`).toBe(true);
      }
    }
  });

  it('define a data view on our indices with @timestamp as its time field', () => {
    const [dv] = ofType('index-pattern');
    expect(dv?.attributes).toMatchObject({ title: 'switchboard-logs-*', timeFieldName: '@timestamp' });
  });

  it('have the errors, trace and per-platform searches on the fields we log', () => {
    const queries = new Map(
      [...ofType('search'), ...ofType('visualization')].map((o) => {
        const source = JSON.parse(String(at(o.attributes, 'kibanaSavedObjectMeta.searchSourceJSON'))) as Obj;
        // The index a search runs on is a reference, resolved above.
        expect(source.indexRefName).toBe('kibanaSavedObjectMeta.searchSourceJSON.index');
        expect((o.references as Obj[]).map((r) => r.name)).toContain(source.indexRefName);
        expect(at(source, 'query.language')).toBe('kuery');
        return [o.id, String(at(source, 'query.query'))];
      }),
    );
    expect(queries.get('switchboard-errors')).toBe('log.level:error');
    expect(queries.get('switchboard-message-trace')).toMatch(/^trace\.id:/);
    expect(queries.get('switchboard-per-platform')).toContain('labels.platform');
    for (const [id, q] of queries) {
      const fields = [...q.matchAll(/([\w.@]+)\s*(?::|>=)/g)].map((m) => String(m[1]));
      expect(fields.length, String(id)).toBeGreaterThan(0);
      for (const f of fields) expect(LOGGED_FIELDS, `${id}: ${f}`).toContain(f);
    }
    for (const s of ofType('search')) {
      for (const c of (s.attributes as Obj).columns as string[]) {
        expect(c).toMatch(/^(service|trace|labels|log|message|error|event)\b/);
      }
    }
  });

  it('have visualisations whose aggregations use fields we log', () => {
    for (const v of ofType('visualization')) {
      const state = JSON.parse(String((v.attributes as Obj).visState)) as Obj;
      const fields = (state.aggs as Obj[]).map((a) => at(a, 'params.field')).filter(Boolean);
      for (const f of fields) expect([...LOGGED_FIELDS, '@timestamp'], `${v.id}`).toContain(f);
    }
  });

  it('have a dashboard whose panels are the searches and visualisations', () => {
    const [dash] = ofType('dashboard');
    const attrs = dash?.attributes as Obj;
    const panels = JSON.parse(String(attrs.panelsJSON)) as Obj[];
    const refs = dash?.references as Obj[];
    expect(panels.length).toBeGreaterThanOrEqual(3);
    for (const p of panels) {
      const ref = refs.find((r) => r.name === `${p.panelIndex}:${p.panelRefName}`);
      expect(ref, String(p.panelRefName)).toBeDefined();
      expect(ref?.type).toBe(p.type);
      expect(at(p, 'gridData.i')).toBe(p.panelIndex);
    }
    const shown = refs.map((r) => r.id);
    for (const id of [
      'switchboard-vis-messages-per-platform',
      'switchboard-vis-latency',
      'switchboard-vis-errors',
    ]) {
      expect(shown).toContain(id);
    }
    expect(JSON.parse(String(attrs.optionsJSON))).toBeTypeOf('object');
  });
});

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Runs setup.sh against one HTTP server standing in for both Elasticsearch and Kibana. */
async function runSetup(
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; calls: Recorded[] }> {
  const calls: Recorded[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += String(c);
    });
    req.on('end', () => {
      calls.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"acknowledged":true}');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  try {
    const child = spawn('sh', [join(ELK, 'setup.sh')], {
      env: {
        PATH: process.env.PATH ?? '',
        ES_URL: base,
        KIBANA_URL: base,
        ES_CA: join(ELK, 'filebeat.yml'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => {
      out += String(c);
    });
    child.stderr.on('data', (c) => {
      out += String(c);
    });
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    return { code, out, calls };
  } finally {
    await new Promise((r) => srv.close(r));
  }
}

describe('setup.sh', () => {
  const secrets = {
    ELASTIC_PASSWORD: 'el-pw-9f3a',
    KIBANA_SYSTEM_PASSWORD: 'kb-pw-71c2',
    FILEBEAT_PASSWORD: 'fb-pw-5d0e',
  };

  it('installs the policy with the configured retention, the template, and imports the saved objects', async () => {
    const { code, out, calls } = await runSetup({ ...secrets, LOG_RETENTION_DAYS: '30' });
    expect(code, out).toBe(0);
    const call = (m: string, path: string) => calls.find((c) => c.method === m && c.url.startsWith(path));
    const policy = JSON.parse(call('PUT', '/_ilm/policy/switchboard-logs')?.body ?? '{}') as Obj;
    expect(at(policy, 'policy.phases.delete.min_age')).toBe('30d');
    expect(JSON.parse(call('PUT', '/_index_template/switchboard-logs')?.body ?? '{}')).toEqual(
      JSON.parse(read('elasticsearch/index-template.json')),
    );
    const imp = call('POST', '/api/saved_objects/_import?overwrite=true');
    expect(imp?.headers['kbn-xsrf']).toBeTruthy();
    expect(imp?.headers['content-type']).toMatch(/^multipart\/form-data/);
    expect(imp?.body).toContain(read('kibana/saved-objects.ndjson').trim());
    // Users get the generated passwords; the elastic password only ever travels as basic auth.
    expect(JSON.parse(call('POST', '/_security/user/kibana_system/_password')?.body ?? '{}')).toEqual({
      password: secrets.KIBANA_SYSTEM_PASSWORD,
    });
    expect(JSON.parse(call('PUT', '/_security/user/filebeat_writer')?.body ?? '{}')).toMatchObject({
      password: secrets.FILEBEAT_PASSWORD,
    });
    const basic = `Basic ${Buffer.from(`elastic:${secrets.ELASTIC_PASSWORD}`).toString('base64')}`;
    for (const c of calls) expect(c.headers.authorization).toBe(basic);
    // Nothing it prints carries a password.
    for (const s of Object.values(secrets)) expect(out).not.toContain(s);
  });

  it('defaults to 14 days of retention', async () => {
    const { code, out, calls } = await runSetup(secrets);
    expect(code, out).toBe(0);
    const body = calls.find((c) => c.url === '/_ilm/policy/switchboard-logs')?.body ?? '{}';
    expect(at(JSON.parse(body), 'policy.phases.delete.min_age')).toBe('14d');
  });

  it('refuses a retention that is not a whole number of days and changes nothing', async () => {
    for (const bad of ['0', '14d', '1;rm -rf /', '-3']) {
      const { code, out, calls } = await runSetup({ ...secrets, LOG_RETENTION_DAYS: bad });
      expect(code, bad).toBe(2);
      expect(out).toMatch(/LOG_RETENTION_DAYS must be/);
      expect(calls).toEqual([]);
    }
  });
});
