#!/usr/bin/env node
// Bundles each service into dist/<name>.mjs for the runtime image.
//
//   node scripts/build.mjs                      every bundle
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

/**
 * Every bundle the image runs, as `node dist/<name>.mjs`, and its entry point. A bundle is named
 * after its service folder, or `<service>-<part>` for a second entry point of one service.
 */
const BUNDLES = {
  'ingress-web': 'services/ingress-web/src/main.ts',
  'agent-worker': 'services/agent-worker/src/main.ts',
  'init-secrets': 'services/init-secrets/src/main.ts',
  'ingress-telegram': 'services/ingress-telegram/src/main.ts',
  'ingress-slack': 'services/ingress-slack/src/main.ts',
  'ingress-discord': 'services/ingress-discord/src/main.ts',
  'ingress-wecom': 'services/ingress-wecom/src/main.ts',
  'ingress-dingtalk': 'services/ingress-dingtalk/src/main.ts',
  'tool-runner': 'services/tool-runner/src/main.ts',
  // NOTE: the shell sandbox's own container (and, in spawn mode, the runner's child). The runner
  // finds it next to its own bundle, so both must land in the same folder.
  'tool-runner-sandbox': 'services/tool-runner/src/sandbox/main.ts',
  // tool-browser's: Chromium and the render RPC, with no database credential.
  'tool-runner-browser': 'services/tool-runner/src/browser/main.ts',
  'alert-relay': 'services/alert-relay/src/main.ts',
  scheduler: 'services/scheduler/src/main.ts',
  admin: 'services/admin/src/main.ts',
  backup: 'services/backup/src/main.ts',
  'backup-cli': 'services/backup/src/cli.ts',
  switchboard: 'packages/cli/src/main.ts',
};
const NAMES = Object.keys(BUNDLES);

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

function selectBundles(argv) {
  const { values } = parseArgs({ args: argv, options: { only: { type: 'string', multiple: true } } });
  if (!values.only) return NAMES;
  const wanted = values.only.flatMap((v) => v.split(',')).map((v) => v.trim());
  const unknown = wanted.filter((name) => !NAMES.includes(name));
  if (unknown.length > 0) {
    throw new Error(`unknown bundle ${unknown.join(', ')}; known: ${NAMES.join(', ')}`);
  }
  return wanted;
}

async function bundle(name, installed) {
  const entry = join(ROOT, BUNDLES[name]);
  try {
    await access(entry);
  } catch {
    throw new Error(`entry point of ${name} is missing: ${entry}`);
  }
  const outfile = join(OUT_DIR, `${name}.mjs`);
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
      `${name} imports ${[...missing].join(', ')}, which no package.json lists under "dependencies"`,
    );
  }
  console.log(`built dist/${name}.mjs`);
}

try {
  const names = selectBundles(process.argv.slice(2));
  const installed = await runtimeDependencies();
  for (const name of names) await bundle(name, installed);
} catch (err) {
  console.error(`build failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
