import { runConnector } from '@switchboard/connector';
import { loadSlackConfig } from './config.ts';
import { SlackAdapter } from './slack-adapter.ts';

runConnector({
  service: 'ingress-slack',
  loadConfig: loadSlackConfig,
  createAdapter: (cfg, deps) => SlackAdapter.create(cfg, deps),
});
