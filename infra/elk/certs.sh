#!/bin/bash
# One-shot of the `elk` profile (elk-certs service): refuses to go on while the generated ELK
# passwords are missing, then creates a CA and Elasticsearch's HTTP certificate once. Runs as the
# image's elasticsearch user (uid 1000) and writes into the elk-certs volume; a later run with the
# files in place changes nothing.
set -euo pipefail

missing=()
for name in ELASTIC_PASSWORD KIBANA_SYSTEM_PASSWORD FILEBEAT_PASSWORD KIBANA_ENCRYPTION_KEY; do
  value=${!name:-}
  if [ "${#value}" -lt 32 ]; then missing+=("$name"); fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "elk-certs: ${missing[*]} missing or shorter than 32 characters; run scripts/install.sh --with-elk, or set them in .env" >&2
  exit 1
fi

out=${ELK_CERTS_DIR:?ELK_CERTS_DIR is required}
if [ -s "$out/ca/ca.crt" ] && [ -s "$out/elasticsearch/elasticsearch.key" ]; then
  echo "elk-certs: certificates already in place"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 027
bin/elasticsearch-certutil ca --silent --pem -out "$work/ca.zip"
unzip -q -o "$work/ca.zip" -d "$out"
printf 'instances:\n  - name: elasticsearch\n    dns: [elasticsearch, localhost]\n' >"$work/instances.yml"
bin/elasticsearch-certutil cert --silent --pem --in "$work/instances.yml" \
  --ca-cert "$out/ca/ca.crt" --ca-key "$out/ca/ca.key" -out "$work/es.zip"
unzip -q -o "$work/es.zip" -d "$out"
echo "elk-certs: wrote the CA and Elasticsearch's certificate"
