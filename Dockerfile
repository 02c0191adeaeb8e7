# syntax=docker/dockerfile:1
#
# One image for every Switchboard service; the compose file picks the command:
#   node dist/ingress-web.mjs | node dist/agent-worker.mjs | node dist/tool-runner.mjs | …
# (every bundle scripts/build.mjs makes: node dist/<name>.mjs)
#
#   docker build -t switchboard:local .

ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV NPM_CONFIG_AUDIT=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false

# Every package.json of the workspace, and nothing else, so the dependency layers below are
# rebuilt only when a manifest or the lock file changes (COPY --from caches on content).
FROM base AS manifests
COPY . /src
RUN mkdir /manifests \
 && cd /src \
 && cp --parents package.json package-lock.json /manifests/ \
 && find packages services -mindepth 2 -maxdepth 2 -name package.json -exec cp --parents {} /manifests/ \;

FROM base AS deps
COPY --from=manifests /manifests/ ./
# NOTE: `npm install` honours the lockfile's versions; `npm ci` would refuse a lockfile that lacks
# other platforms' optional builds (see scripts/ensure-deps.sh).
RUN --mount=type=cache,target=/root/.npm npm install --no-audit --no-fund

FROM deps AS build
COPY . .
RUN npm run build

FROM base AS runtime
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps \
    SB_MIGRATIONS_DIR=/app/packages/core/migrations \
    SB_WEB_PUBLIC_DIR=/app/services/ingress-web/public \
    SB_ADMIN_PUBLIC_DIR=/app/services/admin/public \
    BROWSER_EXECUTABLE=/usr/bin/chromium
# The tool-runner's browser (Debian's Chromium, with fonts for Latin and CJK pages) and the
# programs of the default shell allowlist beyond coreutils (procps: free, uptime); pg_dump and
# pg_restore for the backup service (bookworm's client is 15, the major of the postgres service:
# pg_dump must be at least the server's version).
# NOTE: not pinned to a version on purpose: Chromium opens untrusted pages, so every rebuild
# takes bookworm's current security release; the base image above stays pinned.
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-liberation fonts-noto-cjk postgresql-client procps \
 && rm -rf /var/lib/apt/lists/*
COPY --from=manifests /manifests/ ./
RUN --mount=type=cache,target=/root/.npm npm install --omit=dev --no-audit --no-fund
COPY --from=build /app/dist/ ./dist/
COPY --from=build /app/packages/core/migrations/ ./packages/core/migrations/
COPY --from=build /app/services/ingress-web/src/public/ ./services/ingress-web/public/
COPY --from=build /app/services/admin/public/ ./services/admin/public/
# `switchboard …` in any container of the image (docker compose exec admin switchboard status).
RUN printf '#!/bin/sh\nexec node /app/dist/switchboard.mjs "$@"\n' > /usr/local/bin/switchboard \
 && chmod 0755 /usr/local/bin/switchboard
# Mount points of the named volumes. A new named volume takes the owner and mode of the
# directory it is first mounted on, so these make the volumes writable by their one user (node):
# the secrets and each service's own secrets volume for init-secrets (which mounts them first),
# the tools' workspace and the sandbox's socket for the tool-runner and the shell sandbox.
RUN install -d -o node -g node -m 0700 /run/switchboard/secrets \
 && for s in admin agent-worker alert-relay alertmanager backup ingress-dingtalk ingress-discord ingress-slack \
      ingress-telegram ingress-web ingress-wecom postgres postgres-exporter redis redis-exporter \
      scheduler tool-browser tool-runner; do install -d -o node -g node -m 0700 "/run/switchboard/services/$s"; done \
 && install -d -o node -g node -m 0750 /run/switchboard/rabbitmq-conf \
 && install -d -o node -g node -m 0750 /workspace \
 && install -d -o node -g node -m 0700 /run/sandbox
# Application files stay owned by root: the service user can read them, not change them.
USER node
EXPOSE 8080 8090 9101 9102 9103
CMD ["node", "dist/ingress-web.mjs"]
