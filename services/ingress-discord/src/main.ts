import { runConnector } from '@switchboard/connector';
import { DiscordAdapter } from './adapter.ts';
import { loadDiscordConfig } from './config.ts';

runConnector({
  service: 'ingress-discord',
  loadConfig: loadDiscordConfig,
  createAdapter: (cfg, deps) => new DiscordAdapter(cfg, deps),
});
