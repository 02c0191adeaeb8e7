import { createLogger } from '../../packages/core/src/logger.ts';
import { createSecretsProvider, loadSecretsSettings } from '../../packages/core/src/secrets/index.ts';

/*
 * A stand-in for a service process: loads secrets from the fake Vault named in its environment,
 * reloads on SIGHUP, and reports on stdout what a test waits for. The refresh timer is long, so
 * only the signal can explain a change.
 */
const log = createLogger('sighup-child', 'error');
const provider = createSecretsProvider(loadSecretsSettings(), { log, required: ['PLATFORM_TOKEN'] });
provider.on('change', (key: string) => process.stdout.write(`change ${key}\n`));
provider.reloadOnSighup();
provider.start();
await provider.whenReady(20_000);
process.stdout.write('ready\n');
// Keeps the process alive: the provider's own timers are unref'd so they never block an exit.
setInterval(() => {}, 60_000);
