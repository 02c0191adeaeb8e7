#!/usr/bin/env node
// The `switchboard` command. From the repository it runs the TypeScript source through tsx (a dev
// dependency); where only the built bundle exists (the image, `npm install --omit=dev`) it runs
// dist/switchboard.mjs, built by `npm run build` from packages/cli/src/main.ts.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const source = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const bundle = fileURLToPath(new URL('../../../dist/switchboard.mjs', import.meta.url));

let tsx;
try {
  tsx = await import('tsx/esm/api');
} catch {
  tsx = undefined;
}
if (tsx && existsSync(source)) {
  tsx.register();
  await import(pathToFileURL(source).href);
} else if (existsSync(bundle)) {
  await import(pathToFileURL(bundle).href);
} else {
  process.stderr.write(
    'switchboard: neither tsx (npm install) nor dist/switchboard.mjs (npm run build) is here\n',
  );
  process.exitCode = 1;
}
