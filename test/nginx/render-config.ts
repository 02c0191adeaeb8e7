import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEMPLATE_PATH = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../infra/nginx/nginx.conf.template',
);

/** Values for every `${NGINX_*}` name in the template; the same names docker-entrypoint.sh fills. */
export type NginxTemplateValues = Record<string, string>;

export class TemplateError extends Error {
  readonly code = 'SB_ERR_CONFIG_INVALID';
}

/** The production values docker-entrypoint.sh uses when the environment sets none. */
export const PRODUCTION_VALUES: NginxTemplateValues = {
  NGINX_HTTP_LISTEN: '80',
  NGINX_HTTPS_LISTEN: '443',
  NGINX_HTTPS_PORT_SUFFIX: '',
  NGINX_MIME_TYPES: '/etc/nginx/mime.types',
  NGINX_ACCESS_LOG: '/dev/stdout',
  NGINX_RESOLVER: '127.0.0.11',
  NGINX_TLS_CERT: '/etc/nginx/certs/fullchain.pem',
  NGINX_TLS_KEY: '/etc/nginx/certs/privkey.pem',
  NGINX_API_RATE: '20r/s',
  NGINX_API_BURST: '40',
  NGINX_LOGIN_RATE: '10r/m',
  NGINX_LOGIN_BURST: '5',
  NGINX_API_MAX_BODY: '25m',
  NGINX_WEBHOOK_MAX_BODY: '5m',
  NGINX_WEB_UPSTREAM: 'ingress-web:8080',
  NGINX_TELEGRAM_UPSTREAM: 'ingress-telegram:8080',
  NGINX_SLACK_UPSTREAM: 'ingress-slack:8080',
  NGINX_WECOM_UPSTREAM: 'ingress-wecom:8080',
  NGINX_DINGTALK_UPSTREAM: 'ingress-dingtalk:8080',
  NGINX_ADMIN_UPSTREAM: 'admin:8090',
  NGINX_ADMIN_AUTH_URL: 'http://admin:8090/auth',
  NGINX_RABBITMQ_UPSTREAM: 'rabbitmq:15672',
  NGINX_KIBANA_UPSTREAM: 'kibana:5601',
  NGINX_ALERTMANAGER_UPSTREAM: 'alertmanager:9093',
};

const PLACEHOLDER = /\$\{(NGINX_[A-Z0-9_]+)\}/g;

/** The `${NGINX_*}` names a template uses. */
export function templateNames(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1] as string))].sort();
}

/**
 * envsubst restricted to the template's own names, like the entrypoint; unlike envsubst it refuses
 * a name without a value and a value that could smuggle a directive, so a typo fails here rather
 * than as a half-working nginx.
 */
export function renderTemplate(template: string, values: NginxTemplateValues): string {
  const missing = templateNames(template).filter((n) => values[n] === undefined);
  if (missing.length > 0) throw new TemplateError(`nginx template: no value for ${missing.join(', ')}`);
  for (const [name, value] of Object.entries(values)) {
    if (/[;{}"\n]/.test(value))
      throw new TemplateError(`nginx template: ${name} contains ; { } " or a newline`);
  }
  return template.replace(PLACEHOLDER, (_, name: string) => values[name] as string);
}

export function renderProductionTemplate(overrides: NginxTemplateValues = {}): string {
  return renderTemplate(readFileSync(TEMPLATE_PATH, 'utf8'), { ...PRODUCTION_VALUES, ...overrides });
}
