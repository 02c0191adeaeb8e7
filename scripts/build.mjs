#!/usr/bin/env node
// Bundles each service into dist/<service>.mjs for the runtime image.
//
//   node scripts/build.mjs                      every service
//   node scripts/build.mjs --only init-secrets  some of them (repeat --only, or comma-separate)
//
// Our own @switchboard/* workspace packages are bundled in (they ship TypeScript sources);
// every other package stays an import, installed by `npm install --omit=dev` in the image, so a
// bundle that imports a package no workspace lists under "dependencies" fails the build.
import { access, readdir, readFile, rm } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const OUT_DIR = join(ROOT, 'dist');

/** Every service the image runs, as `node dist/<name>.mjs`. */
const SERVICES = [
  'ingress-web',
  'agent-worker',
  'init-secrets',
  'ingress-telegram',
  'ingress-slack',
  'ingress-discord',
  'ingress-wecom',
  'ingress-dingtalk',
];

/** Leaves bare imports (npm packages, node: builtins) external, except our workspace packages. */
const externalDependencies = {
  name: 'external-dependencies',
  setup(builder) {
    builder.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@switchboard/')) return undefined;
      return { path: args.path, external: true };
    });
  },
};

/** Packages `npm install --omit=dev` installs: the runtime dependencies of the root and every workspace. */
async function runtimeDependencies() {
  const manifest = async (dir) => JSON.parse(await readFile(join(ROOT, dir, 'package.json'), 'utf8'));
  const root = await manifest('.');
  const names = new Set(Object.keys(root.dependencies ?? {}));
  for (const pattern of root.workspaces ?? []) {
    // NOTE: our workspaces are all `<folder>/*`; Node 20 has no fs glob.
    const parent = pattern.replace(/\/\*$/, '');
    const entries = await readdir(join(ROOT, parent), { withFileTypes: true });
    for (const entry of entries.filter((e) => e.isDirectory())) {
      const deps = (await manifest(join(parent, entry.name)).catch(() => ({}))).dependencies ?? {};
      for (const name of Object.keys(deps)) names.add(name);
    }
  }
  return names;
}

function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function selectServices(argv) {
  const { values } = parseArgs({ args: argv, options: { only: { type: 'string', multiple: true } } });
  if (!values.only) return SERVICES;
  const wanted = values.only.flatMap((v) => v.split(',')).map((v) => v.trim());
  const unknown = wanted.filter((name) => !SERVICES.includes(name));
  if (unknown.length > 0) {
    throw new Error(`unknown service ${unknown.join(', ')}; known: ${SERVICES.join(', ')}`);
  }
  return wanted;
}

async function bundle(service, installed) {
  const entry = join(ROOT, 'services', service, 'src', 'main.ts');
  try {
    await access(entry);
  } catch {
    throw new Error(`entry point of ${service} is missing: ${entry}`);
  }
  const outfile = join(OUT_DIR, `${service}.mjs`);
  await rm(outfile, { force: true });
  await rm(`${outfile}.map`, { force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [externalDependencies],
    metafile: true,
  });
  const imports = Object.values(result.metafile.outputs).flatMap((output) => output.imports);
  const missing = new Set(
    imports
      .filter((i) => i.external && !isBuiltin(i.path))
      .map((i) => packageName(i.path))
      .filter((name) => !installed.has(name)),
  );
  if (missing.size > 0) {
    throw new Error(
      `${service} imports ${[...missing].join(', ')}, which no package.json lists under "dependencies"`,
    );
  }
  console.log(`built dist/${service}.mjs`);
}

try {
  const services = selectServices(process.argv.slice(2));
  const installed = await runtimeDependencies();
  for (const service of services) await bundle(service, installed);
} catch (err) {
  console.error(`build failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
