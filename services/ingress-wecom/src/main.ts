import { runConnector } from '@switchboard/connector';
import { WecomAdapter } from './adapter.ts';
import { loadWecomConfig } from './config.ts';

runConnector({
  service: 'ingress-wecom',
  loadConfig: loadWecomConfig,
  createAdapter: (cfg, deps) => new WecomAdapter(cfg, deps),
});
