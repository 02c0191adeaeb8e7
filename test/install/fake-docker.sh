#!/usr/bin/env bash
# Stand-in for the `docker` CLI in test/install: there is no Docker daemon on the test machine.
# Appends each invocation's arguments (one line) to $FAKE_DOCKER_LOG and answers the calls
# scripts/install.sh makes, the way Docker 24+ with the Compose plugin does:
#   info                          ok, or the daemon-down error when FAKE_DOCKER_INFO_FAIL=1
#   compose version --short       $FAKE_COMPOSE_VERSION (default 2.29.1)
#   compose … up …                ok
#   compose … ps --all --format json
#                                 the file $FAKE_DOCKER_STATES/<n> for the n-th call (the highest
#                                 existing one once they run out): one JSON object per line
#   compose … exec -T agent-worker cat /run/switchboard/secrets/<name>
#   compose … exec -T admin switchboard token create … --json   → {"token": FAKE_ADMIN_TOKEN}
#                                 fake-<name>-value, or $FAKE_ADMIN_TOKEN for admin_token
set -euo pipefail
printf '%s\n' "$*" >>"${FAKE_DOCKER_LOG:?}"

case ${1:-} in
  info)
    if [ "${FAKE_DOCKER_INFO_FAIL:-0}" = 1 ]; then
      echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2
      exit 1
    fi
    echo 'Server Version: 28.2.2'
    exit 0
    ;;
  compose) shift ;;
  *)
    echo "fake docker: unexpected command: $*" >&2
    exit 2
    ;;
esac

# Skip the global options (-f FILE, --profile NAME, --project-name NAME) to the subcommand.
while [ $# -gt 0 ]; do
  case $1 in
    -f | --file | --profile | -p | --project-name | --env-file) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done

case ${1:-} in
  version)
    echo "${FAKE_COMPOSE_VERSION:-2.29.1}"
    ;;
  up)
    echo ' ✔ Container switchboard-init-secrets-1  Started' >&2
    ;;
  ps)
    counter=${FAKE_DOCKER_STATES:?}/calls
    n=$(($(cat "$counter" 2>/dev/null || echo 0) + 1))
    echo "$n" >"$counter"
    while [ "$n" -gt 1 ] && [ ! -f "$FAKE_DOCKER_STATES/$n" ]; do n=$((n - 1)); done
    cat "$FAKE_DOCKER_STATES/$n"
    ;;
  exec)
    if [[ " $* " == *" switchboard token create "* ]]; then
      printf '{"token":"%s","id":"abc","role":"admin"}\n' "${FAKE_ADMIN_TOKEN:-fake-admin-token}"
      exit 0
    fi
    file=${*: -1}
    name=${file##*/}
    if [ "$name" = admin_token ]; then echo "${FAKE_ADMIN_TOKEN:-fake-admin-token}"; else echo "fake-$name-value"; fi
    ;;
  *)
    echo "fake docker: unexpected compose command: $*" >&2
    exit 2
    ;;
esac
