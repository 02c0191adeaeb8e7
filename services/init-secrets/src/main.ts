/**
 * init-secrets: one-shot container every other service waits on. Generates the appliance's
 * secrets on first start and keeps them on every later start.
 *
 * Settings (set by docker-compose.yml; only needed to run it by hand):
 * - SECRETS_DIR        where secrets and derived URLs go (default /run/switchboard/secrets)
 * - RABBITMQ_CONF_DIR  where rabbitmq.conf goes (default /run/switchboard/rabbitmq-conf)
 * - RABBITMQ_CONF_GID  group given to rabbitmq.conf so the broker can read it (default: unchanged)
 * - ALERTMANAGER_GID   group given to Alertmanager's secrets volume, which its image's own user
 *                      reads (default: unchanged, readable by our user alone)
 * - SERVICES_DIR       where each service's own secrets go, <dir>/<service>/ (default: not distributed)
 * - BROKER_PREFIX      the services' BROKER_PREFIX, named by the broker users' permissions (default sb)
 */
import { SecretsError, SecretsErrorCode } from './errors.ts';
import { ensureSecrets } from './secrets.ts';

type Level = 'info' | 'warn' | 'error';

// NOTE: a dependency-free stand-in for the core logger (same ECS field names), so this image
// step needs nothing but Node. Only file names are ever logged, never their contents.
function log(level: Level, message: string, fields: Record<string, unknown> = {}): void {
  const line = {
    '@timestamp': new Date().toISOString(),
    'log.level': level,
    message,
    'service.name': 'init-secrets',
    ...fields,
  };
  (level === 'info' ? process.stdout : process.stderr).write(`${JSON.stringify(line)}\n`);
}

function readGid(raw: string | undefined, key = 'RABBITMQ_CONF_GID'): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) {
    throw new SecretsError(SecretsErrorCode.config, `${key} must be a numeric group id`);
  }
  return Number(raw);
}

async function main(): Promise<void> {
  const dir = process.env.SECRETS_DIR || '/run/switchboard/secrets';
  const confDir = process.env.RABBITMQ_CONF_DIR || '/run/switchboard/rabbitmq-conf';
  const confGid = readGid(process.env.RABBITMQ_CONF_GID);
  const alertmanagerGid = readGid(process.env.ALERTMANAGER_GID, 'ALERTMANAGER_GID');
  const serviceGids: Record<string, number> =
    alertmanagerGid === undefined ? {} : { alertmanager: alertmanagerGid };
  const servicesDir = process.env.SERVICES_DIR || undefined;
  const brokerPrefix = process.env.BROKER_PREFIX || 'sb';
  if (!/^[a-z][a-z0-9_-]{0,30}$/.test(brokerPrefix)) {
    throw new SecretsError(
      SecretsErrorCode.config,
      'BROKER_PREFIX: lower-case letters, digits, - and _ only',
    );
  }

  const outcomes = await ensureSecrets(dir, confDir, { confGid, servicesDir, brokerPrefix, serviceGids });
  for (const { name, action, stale } of outcomes) {
    log('info', `${action} ${name}`, { 'event.action': action, 'labels.secret': name });
    if (stale) {
      log('warn', `${name} does not match the password it is derived from; left unchanged`, {
        'event.action': 'stale',
        'labels.secret': name,
      });
    }
  }
  const count = (action: string) => outcomes.filter((o) => o.action === action).length;
  log(
    'info',
    `secrets ready: ${count('created')} created, ${count('updated')} updated, ${count('removed')} removed, ${count('kept')} kept`,
  );
}

main().catch((err: unknown) => {
  const code = err instanceof SecretsError ? err.code : (err as NodeJS.ErrnoException | undefined)?.code;
  const hint =
    code === 'EACCES' || code === 'EPERM'
      ? ` (running as uid ${process.getuid?.()}; the volumes must be writable by it)`
      : '';
  log('error', `${err instanceof Error ? err.message : String(err)}${hint}`, { 'error.code': code });
  process.exitCode = 1;
});
