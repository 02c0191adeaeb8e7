#!/bin/sh
# Usage: generate-self-signed.sh CERT_PATH KEY_PATH SERVER_NAME
# Writes a self-signed certificate (RSA 2048, SHA-256, 825 days — the longest validity browsers
# accept) with SERVER_NAME, localhost and 127.0.0.1 as subject alternative names. Does nothing when
# both files already exist, so a mounted real certificate is never overwritten.
set -eu
cert=$1 key=$2 name=$3

if [ -s "$cert" ] && [ -s "$key" ]; then exit 0; fi

case "$name" in
  *[!A-Za-z0-9.-]*|'') echo "generate-self-signed: invalid server name '$name'" >&2; exit 2 ;;
esac

mkdir -p "$(dirname "$cert")" "$(dirname "$key")"
tmpkey="$key.tmp.$$" tmpcert="$cert.tmp.$$"
trap 'rm -f "$tmpkey" "$tmpcert"' EXIT
(
  umask 077
  openssl req -x509 -newkey rsa:2048 -sha256 -days 825 -nodes \
    -keyout "$tmpkey" -out "$tmpcert" -subj "/CN=$name" \
    -addext "subjectAltName=DNS:$name,DNS:localhost,IP:127.0.0.1" \
    -addext "extendedKeyUsage=serverAuth" 2>/dev/null
)
# Renamed into place last, so an interrupted run never leaves a key without its certificate.
mv "$tmpkey" "$key"
mv "$tmpcert" "$cert"
echo "generate-self-signed: wrote a self-signed certificate for $name to $cert" >&2
