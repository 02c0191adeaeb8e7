# switchboard-tool-browser: read-only on this service's own KV v2 secret, nothing else.
# Token renew-self and lookup-self come from Vault's built-in "default" policy, attached too.
path "secret/data/switchboard/tool-browser" {
  capabilities = ["read"]
}
