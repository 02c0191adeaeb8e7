import { runConnector } from '@switchboard/connector';
import { TelegramAdapter } from './adapter.ts';
import { loadTelegramConfig } from './config.ts';

runConnector({
  service: 'ingress-telegram',
  loadConfig: loadTelegramConfig,
  createAdapter: (cfg, deps) => new TelegramAdapter(cfg, deps),
});
