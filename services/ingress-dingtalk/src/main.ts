import { runConnector } from '@switchboard/connector';
import { DingtalkAdapter } from './adapter.ts';
import { loadDingtalkConfig } from './config.ts';

runConnector({
  service: 'ingress-dingtalk',
  loadConfig: loadDingtalkConfig,
  createAdapter: (cfg, deps) => new DingtalkAdapter(cfg, deps),
});
