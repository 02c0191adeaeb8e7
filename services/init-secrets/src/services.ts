/**
 * Which secret files each service's own volume holds: exactly the ones its configuration reads
 * (test/compose/least-privilege checks this against each service's config schema and its compose
 * `*_FILE` settings). Every service mounts only its volume, so a compromised connector holds its
 * broker and database URLs, not the API token, the backup token or another service's password.
 *
 * `amqp_url` and `rabbitmq_password` are the service's own broker user's (broker-users.ts); the
 * other names are copies of the files init-secrets keeps in the main secrets volume.
 */
export const SERVICE_SECRETS: Readonly<Record<string, readonly string[]>> = {
  admin: ['amqp_url', 'database_url', 'redis_url', 'rabbitmq_password', 'workflow_token', 'backup_token'],
  'agent-worker': ['amqp_url', 'database_url', 'redis_url'],
  // The token Alertmanager must present to page; robot URLs come from .env or Vault (AppRole files).
  'alert-relay': ['alert_relay_token'],
  // Presents alert-relay's token (alertmanager.yml credentials_file); it holds nothing else.
  alertmanager: ['alert_relay_token'],
  backup: ['database_url', 'backup_token', 'rabbitmq_password'],
  'ingress-dingtalk': ['amqp_url', 'database_url'],
  'ingress-discord': ['amqp_url', 'database_url'],
  'ingress-slack': ['amqp_url', 'database_url'],
  'ingress-telegram': ['amqp_url', 'database_url'],
  'ingress-web': ['amqp_url', 'database_url', 'api_token'],
  'ingress-wecom': ['amqp_url', 'database_url'],
  scheduler: ['amqp_url', 'database_url', 'redis_url', 'workflow_token'],
  'tool-runner': ['amqp_url', 'database_url'],
  // Chromium renders untrusted pages here: its broker URL and nothing else. The tool-runner checks
  // the grant and stores the screenshot; tool-browser only renders (docs/threat-model/compose.md).
  'tool-browser': ['amqp_url'],
  postgres: ['postgres_password'],
  'postgres-exporter': ['postgres_password'],
  redis: ['redis_password'],
  'redis-exporter': ['redis_exporter_passwords.json'],
};

/** Services that keep Vault AppRole files (vault/<service>/…), copied from the main volume. */
export const VAULT_FILES = ['vault_role_id', 'vault_secret_id'] as const;
