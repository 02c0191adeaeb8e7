# Production Vault server: one node, integrated (raft) storage, TLS on the API.
# Started by the production override as `vault server -config=/vault/config/vault.hcl`.

# Integrated storage memory-maps its files; mlock would pin all of them in RAM. HashiCorp's
# guidance for raft is to disable mlock and instead keep swap off on the host (or encrypted).
disable_mlock = true
ui            = false

storage "raft" {
  path    = "/vault/file"
  node_id = "switchboard-vault-1"
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  # The certificate must name "vault" (the compose service name) and the host's name, and be
  # signed by the CA each service is given as VAULT_CACERT.
  tls_cert_file   = "/vault/tls/vault.crt"
  tls_key_file    = "/vault/tls/vault.key"
  tls_min_version = "tls12"
}

api_addr     = "https://vault:8200"
cluster_addr = "https://vault:8201"

# Audit devices are enabled at run time (`vault audit enable file file_path=/vault/logs/audit.log`),
# see README.md; the audit log hashes secret values with HMAC, it never stores them in clear.
log_level = "info"
log_format = "json"
