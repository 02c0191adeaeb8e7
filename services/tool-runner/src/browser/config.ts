import { commonConfigShape, loadConfig } from '@switchboard/core';
import { egressConfigShape } from '@switchboard/egress';
import { z } from 'zod';

/** The renderer's settings, read by the tool-runner (BROWSER_RENDER=local) and tool-browser alike. */
export const browserConfigShape = {
  BROWSER_EXECUTABLE: z.string().default('/usr/bin/chromium'),
  BROWSER_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(600_000).default(45_000),
  /** Page text returned to the model. */
  BROWSER_MAX_TEXT_BYTES: z.coerce.number().int().min(1024).max(1_048_576).default(32_768),
  /** One screenshot; a bigger one is refused (on both sides of the render RPC), never stored. */
  BROWSER_MAX_SCREENSHOT_BYTES: z.coerce
    .number()
    .int()
    .min(65_536)
    .max(67_108_864)
    .default(8 * 1024 * 1024),
};

// tool-browser holds no database credential: the common settings without DATABASE_URL.
const { DATABASE_URL: _database, ...brokerShape } = commonConfigShape;

/** tool-browser (browser/main.ts): the broker, the egress policy and the renderer, nothing else. */
export const toolBrowserConfigShape = {
  ...brokerShape,
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(9102),
  /** Pages rendered at once (the render queue's prefetch). */
  TOOL_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  ...egressConfigShape,
  ...browserConfigShape,
};

export const toolBrowserConfigSchema = z.object(toolBrowserConfigShape);
export type ToolBrowserConfig = z.infer<typeof toolBrowserConfigSchema>;

export const loadToolBrowserConfig = (env: NodeJS.ProcessEnv = process.env): ToolBrowserConfig =>
  loadConfig(toolBrowserConfigSchema, env);
