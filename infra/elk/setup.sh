#!/bin/sh
# One-shot setup of log search (the `elk-setup` compose service): sets the kibana_system and
# filebeat passwords, installs the lifecycle policy and index template into Elasticsearch, and
# imports the data view, saved searches and dashboard into Kibana. Safe to run again: every call
# is an idempotent PUT or an import with overwrite.
set -eu

ES_URL="${ES_URL:-https://elasticsearch:9200}"
KIBANA_URL="${KIBANA_URL:-http://kibana:5601}"
ES_CA="${ES_CA:-/certs/ca/ca.crt}"
LOG_RETENTION_DAYS="${LOG_RETENTION_DAYS:-14}"
HERE="$(cd "$(dirname "$0")" && pwd)"
: "${ELASTIC_PASSWORD:?ELASTIC_PASSWORD is required}"
: "${KIBANA_SYSTEM_PASSWORD:?KIBANA_SYSTEM_PASSWORD is required}"
: "${FILEBEAT_PASSWORD:?FILEBEAT_PASSWORD is required}"

case "$LOG_RETENTION_DAYS" in
  '' | *[!0-9]*) echo "LOG_RETENTION_DAYS must be a whole number of days, got '$LOG_RETENTION_DAYS'" >&2; exit 2 ;;
esac
if [ "$LOG_RETENTION_DAYS" -lt 1 ]; then
  echo "LOG_RETENTION_DAYS must be at least 1" >&2
  exit 2
fi

# Passwords reach curl through a private config file and stdin, never argv, so `ps` never shows them.
umask 077
CURLRC="$(mktemp)"
trap 'rm -f "$CURLRC"' EXIT
printf 'user = "elastic:%s"\n' "$ELASTIC_PASSWORD" >"$CURLRC"

# es METHOD PATH: the request body is read from stdin.
es() {
  curl -sS --fail-with-body --cacert "$ES_CA" -K "$CURLRC" -X "$1" "$ES_URL$2" \
    -H 'Content-Type: application/json' --data-binary @-
  echo
}

echo "waiting for Elasticsearch at $ES_URL"
until curl -sS -o /dev/null --fail --cacert "$ES_CA" -K "$CURLRC" "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=5s"; do
  sleep 5
done

printf '{"password":"%s"}' "$KIBANA_SYSTEM_PASSWORD" | es POST /_security/user/kibana_system/_password
# Filebeat writes with a role that can only create documents in our data stream.
es PUT /_security/role/switchboard_logs_writer <<'JSON'
{
  "cluster": ["monitor", "read_ilm"],
  "indices": [{ "names": ["switchboard-logs-*"], "privileges": ["create_doc", "auto_configure", "view_index_metadata"] }]
}
JSON
printf '{"password":"%s","roles":["switchboard_logs_writer"]}' "$FILEBEAT_PASSWORD" |
  es PUT /_security/user/filebeat_writer

sed "s/\${LOG_RETENTION_DAYS}/$LOG_RETENTION_DAYS/" "$HERE/elasticsearch/ilm-policy.json" |
  es PUT /_ilm/policy/switchboard-logs
es PUT /_index_template/switchboard-logs <"$HERE/elasticsearch/index-template.json"

echo "waiting for Kibana at $KIBANA_URL"
until curl -sS -o /dev/null --fail -K "$CURLRC" "$KIBANA_URL/api/status"; do
  sleep 5
done

curl -sS --fail-with-body -K "$CURLRC" -X POST "$KIBANA_URL/api/saved_objects/_import?overwrite=true" \
    -H 'kbn-xsrf: switchboard-elk-setup' \
    --form "file=@$HERE/kibana/saved-objects.ndjson"
echo
echo "log search ready: retention ${LOG_RETENTION_DAYS} days"
