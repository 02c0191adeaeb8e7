#!/bin/sh
# Creates, for each Switchboard service, a read-only policy on its own KV v2 path and an AppRole
# bound to it, and writes the role_id and a fresh secret_id into <out>/<service>/ (files 0600),
# to be mounted into that service as VAULT_ROLE_ID_FILE / VAULT_SECRET_ID_FILE. Idempotent:
# running it again updates policies and roles and issues new secret_ids (old ones keep working
# until revoked: vault write auth/approle/role/switchboard-<svc>/secret-id-accessor/destroy ...).
#
#   VAULT_ADDR=https://vault:8200 VAULT_TOKEN=<admin token> ./approle-setup.sh /root/approle
set -eu

OUT_DIR=${1:?usage: approle-setup.sh <output directory>}
HERE=$(cd "$(dirname "$0")" && pwd)
KV_MOUNT=${VAULT_KV_MOUNT:-secret}
SERVICES=${SERVICES:-"admin agent-worker alert-relay backup ingress-dingtalk ingress-discord ingress-slack ingress-telegram ingress-web ingress-wecom scheduler tool-browser tool-runner"}
# Renewed by the provider at 2/3 of token_ttl; token_max_ttl forces a fresh login once a day.
TOKEN_TTL=${TOKEN_TTL:-1h}
TOKEN_MAX_TTL=${TOKEN_MAX_TTL:-24h}
# Only the compose network may log in with a secret_id (empty: anywhere).
BOUND_CIDRS=${BOUND_CIDRS:-}
: "${VAULT_ADDR:?set VAULT_ADDR}"
: "${VAULT_TOKEN:?set VAULT_TOKEN to a token allowed to manage policies and auth methods}"

umask 077
mkdir -p "$OUT_DIR"

# grep on the JSON keys rather than jq: the vault image has no jq.
if ! vault secrets list -format=json | grep -q "\"$KV_MOUNT/\""; then
  vault secrets enable -path="$KV_MOUNT" -version=2 kv
fi
if ! vault auth list -format=json | grep -q '"approle/"'; then
  vault auth enable approle
fi

for svc in $SERVICES; do
  policy="$HERE/policies/$svc.hcl"
  [ -f "$policy" ] || { echo "approle-setup.sh: no policy file $policy" >&2; exit 1; }
  # Policies name the default mount "secret"; another VAULT_KV_MOUNT is substituted here.
  sed "s#\"secret/data/#\"$KV_MOUNT/data/#" "$policy" | vault policy write "switchboard-$svc" -
  vault write "auth/approle/role/switchboard-$svc" \
    token_policies="switchboard-$svc" \
    token_type=service \
    token_ttl="$TOKEN_TTL" \
    token_max_ttl="$TOKEN_MAX_TTL" \
    secret_id_ttl=0 \
    secret_id_num_uses=0 \
    ${BOUND_CIDRS:+secret_id_bound_cidrs="$BOUND_CIDRS"} \
    ${BOUND_CIDRS:+token_bound_cidrs="$BOUND_CIDRS"} >/dev/null
  mkdir -p "$OUT_DIR/$svc"
  vault read -field=role_id "auth/approle/role/switchboard-$svc/role-id" >"$OUT_DIR/$svc/vault_role_id"
  vault write -f -field=secret_id "auth/approle/role/switchboard-$svc/secret-id" >"$OUT_DIR/$svc/vault_secret_id"
  chmod 600 "$OUT_DIR/$svc/vault_role_id" "$OUT_DIR/$svc/vault_secret_id"
  echo "approle-setup.sh: $svc -> role switchboard-$svc, path $KV_MOUNT/switchboard/$svc" >&2
done
echo "approle-setup.sh: credentials in $OUT_DIR/<service>/vault_role_id and vault_secret_id" >&2
