#!/bin/sh
# Initialises a new Vault once: `vault operator init`, then writes each unseal key share and the
# initial root token to its own file (mode 0600) in a new directory (mode 0700).
#
#   VAULT_ADDR=https://vault:8200 VAULT_CACERT=/path/ca.pem ./init.sh /root/vault-init-YYYYMMDD
#
# THE OUTPUT DIRECTORY MUST NOT STAY ON THIS MACHINE. Give each key share to a different key
# holder (offline: paper, a hardware token, separate password managers), then delete the
# directory. Anyone with KEY_THRESHOLD shares can unseal and read every secret; see README.md.
set -eu

OUT_DIR=${1:?usage: init.sh <new output directory>}
KEY_SHARES=${KEY_SHARES:-5}
KEY_THRESHOLD=${KEY_THRESHOLD:-3}
: "${VAULT_ADDR:?set VAULT_ADDR (e.g. https://vault:8200)}"

if [ -e "$OUT_DIR" ]; then
  echo "init.sh: $OUT_DIR already exists; refusing to write key material next to other files" >&2
  exit 1
fi

# `vault operator init -status` exits 0 when initialised, 2 when not, 1 on error.
set +e
vault operator init -status >/dev/null 2>&1
status=$?
set -e
case $status in
  0) echo "init.sh: Vault at $VAULT_ADDR is already initialised; nothing done" >&2; exit 1 ;;
  2) ;;
  *) echo "init.sh: cannot reach Vault at $VAULT_ADDR (vault operator init -status exited $status)" >&2; exit 1 ;;
esac

# Files are created private from the start: no window where a share is world-readable.
umask 077
mkdir -m 700 "$OUT_DIR"
# The table output, not JSON: parsing it needs only sed, so this runs inside the vault image too.
vault operator init -key-shares="$KEY_SHARES" -key-threshold="$KEY_THRESHOLD" >"$OUT_DIR/init.txt"

i=1
while [ "$i" -le "$KEY_SHARES" ]; do
  sed -n "s/^Unseal Key $i: *//p" "$OUT_DIR/init.txt" >"$OUT_DIR/unseal-key-$i"
  chmod 600 "$OUT_DIR/unseal-key-$i"
  [ -s "$OUT_DIR/unseal-key-$i" ] || { echo "init.sh: unseal key $i not found in the init output ($OUT_DIR/init.txt kept)" >&2; exit 1; }
  i=$((i + 1))
done
sed -n 's/^Initial Root Token: *//p' "$OUT_DIR/init.txt" >"$OUT_DIR/root-token"
chmod 600 "$OUT_DIR/root-token"
[ -s "$OUT_DIR/root-token" ] || { echo "init.sh: root token not found in the init output ($OUT_DIR/init.txt kept)" >&2; exit 1; }
# The combined output would defeat splitting the shares between holders.
rm -f "$OUT_DIR/init.txt"

cat >&2 <<MSG
init.sh: Vault initialised with $KEY_SHARES key shares, $KEY_THRESHOLD needed to unseal.
  Key shares and root token are in $OUT_DIR (mode 0700, files 0600).
  NOW: hand one unseal-key-N to each key holder, store them OFFLINE, then
       shred -u $OUT_DIR/* && rmdir $OUT_DIR
  Vault starts SEALED: unseal it with $KEY_THRESHOLD shares (README.md, "Unsealing").
  Revoke the root token once approle-setup.sh has run: vault token revoke <root token>.
MSG
