#!/usr/bin/env bash
# Installs (or re-applies) the Switchboard appliance on this host: checks Docker and the VM's size,
# writes the settings .env still lacks, puts a self-signed certificate in place when there is none,
# starts the compose project, waits until every service is healthy and prints the URL and the
# first admin token. Safe to run again: every step keeps what an earlier run made.
#
#   scripts/install.sh [--domain NAME] [--with-elk] [--evaluation] [--timeout SECONDS]
#
# Operator guide: docs/operations.md.
#
# Test hooks (read only by the test suite; never needed on a real host):
#   SB_INSTALL_NPROC     CPU count to use instead of `nproc`
#   SB_INSTALL_MEMINFO   path of a /proc/meminfo-format file to read MemTotal from
#   SB_INSTALL_DF_KB     free disk in KiB to use instead of `df -Pk .`
#   SB_INSTALL_POLL_S    seconds between two health polls (default 5)
set -euo pipefail

readonly PROD_CPUS=4 PROD_RAM_GIB=8 PROD_DISK_GIB=40
readonly EVAL_CPUS=2 EVAL_RAM_GIB=4 EVAL_DISK_GIB=20
readonly MIN_COMPOSE=2.24.4
readonly CERT_DIR=infra/nginx/certs
readonly ELK_KEYS=(ELASTIC_PASSWORD KIBANA_SYSTEM_PASSWORD FILEBEAT_PASSWORD KIBANA_ENCRYPTION_KEY)

usage() {
  cat <<'EOF'
usage: scripts/install.sh [options]

Installs Switchboard on this host with Docker Compose, or re-applies the installation (idempotent).

  --domain NAME      host name users reach the appliance by: in the certificate and the URL
                     (default: `hostname -f`, else localhost)
  --with-elk         also start log search (Elasticsearch, Kibana, Filebeat: the `elk` profile)
  --evaluation       a trial on a small VM: docker-compose.yml only, lower minimums
                     (production uses docker-compose.yml and docker-compose.prod.yml)
  --timeout SECONDS  how long to wait for every service to be healthy (default 900)
  -h, --help         this text

Guide: docs/operations.md
EOF
}

say() { printf '%s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}
usage_error() {
  printf 'install.sh: %s\n' "$*" >&2
  usage >&2
  exit 64
}

valid_name() { [[ $1 =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
# KiB as GiB with one decimal.
gib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1048576 }'; }
now_ms() {
  if [ -n "${EPOCHREALTIME:-}" ]; then
    local us=${EPOCHREALTIME//[.,]/}
    echo $((10#$us / 1000))
  else
    echo $(($(date +%s) * 1000))
  fi
}

# --- Options --------------------------------------------------------------------------------
domain='' with_elk=0 evaluation=0 timeout_s=900
while [ $# -gt 0 ]; do
  case $1 in
    --domain)
      [ $# -ge 2 ] || usage_error '--domain needs a host name'
      domain=$2
      shift 2
      ;;
    --domain=*) domain=${1#*=} && shift ;;
    --with-elk) with_elk=1 && shift ;;
    --evaluation) evaluation=1 && shift ;;
    --timeout)
      [ $# -ge 2 ] || usage_error '--timeout needs a number of seconds'
      timeout_s=$2
      shift 2
      ;;
    --timeout=*) timeout_s=${1#*=} && shift ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done
if ! is_uint "$timeout_s" || [ "$((10#$timeout_s))" -eq 0 ]; then
  usage_error "--timeout must be a whole number of seconds above 0, not '$timeout_s'"
fi
timeout_s=$((10#$timeout_s))
domain_from_option=0
if [ -n "$domain" ]; then
  valid_name "$domain" || usage_error "--domain: '$domain' is not a host name (letters, digits, dots, hyphens)"
  domain_from_option=1
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -f docker-compose.yml ] || die "docker-compose.yml not found in $PWD; run the script from a Switchboard checkout"

if [ "$evaluation" -eq 1 ]; then
  files=(-f docker-compose.yml)
  mode=evaluation need_cpus=$EVAL_CPUS need_ram=$EVAL_RAM_GIB need_disk=$EVAL_DISK_GIB
else
  [ -f docker-compose.prod.yml ] || die "docker-compose.prod.yml not found in $PWD"
  files=(-f docker-compose.yml -f docker-compose.prod.yml)
  mode=production need_cpus=$PROD_CPUS need_ram=$PROD_RAM_GIB need_disk=$PROD_DISK_GIB
fi

# --- Preflight: nothing is written or started before every check passed -----------------------
if ! command -v docker >/dev/null 2>&1; then
  die 'Docker is not installed / the daemon is not reachable: no `docker` command on PATH (install Docker Engine 24+ with the Compose plugin)'
fi
if ! info_err=$(docker info 2>&1 >/dev/null); then
  reason=$(printf '%s\n' "$info_err" | grep -v '^[[:space:]]*$' | tail -n 1)
  die "Docker is not installed / the daemon is not reachable: ${reason:-\`docker info\` failed} (is the docker service running, and may this user use it?)"
fi
if ! compose_version=$(docker compose version --short 2>/dev/null) || [ -z "$compose_version" ]; then
  die "Docker Compose v2 is missing: \`docker compose version\` failed; install the docker-compose-plugin ($MIN_COMPOSE or newer)"
fi
compose_version=${compose_version#v}
compose_version=${compose_version%%[-+ ]*}
version_at_least() {
  local -a have want
  IFS=. read -r -a have <<<"$1"
  IFS=. read -r -a want <<<"$2"
  local i h w
  for i in 0 1 2; do
    h=${have[i]:-0} w=${want[i]:-0}
    is_uint "$h" || return 1
    if ((10#$h > 10#$w)); then return 0; fi
    if ((10#$h < 10#$w)); then return 1; fi
  done
  return 0
}
if ! version_at_least "$compose_version" "$MIN_COMPOSE"; then
  die "Docker Compose $compose_version is too old: $MIN_COMPOSE or newer is needed (the compose files use \`!reset\`); update the docker-compose-plugin package"
fi

problems=()
cpus=${SB_INSTALL_NPROC:-$(nproc 2>/dev/null || echo 0)}
is_uint "$cpus" || die "cannot tell the number of CPUs (got '$cpus')"
if [ "$cpus" -lt "$need_cpus" ]; then
  problems+=("CPUs: $cpus, $mode needs $need_cpus")
fi
meminfo=${SB_INSTALL_MEMINFO:-/proc/meminfo}
mem_kb=$(awk '$1 == "MemTotal:" { print $2; exit }' "$meminfo" 2>/dev/null || true)
is_uint "${mem_kb:-x}" || die "cannot read MemTotal from $meminfo"
# NOTE: a VM sold as 8 GB shows Linux a little less (firmware and kernel reservations), so up to
# 10% below the nominal size passes.
if [ "$mem_kb" -lt $((need_ram * 1048576 * 9 / 10)) ]; then
  problems+=("RAM: $(gib "$mem_kb") GiB, $mode needs $need_ram GiB")
fi
if [ -n "${SB_INSTALL_DF_KB:-}" ]; then
  free_kb=$SB_INSTALL_DF_KB
else
  free_kb=$(df -Pk . 2>/dev/null | awk 'NR == 2 { print $4 }')
fi
is_uint "${free_kb:-x}" || die "cannot tell the free disk space of $PWD"
if [ "$free_kb" -lt $((need_disk * 1048576)) ]; then
  problems+=("Disk: $(gib "$free_kb") GiB free in $PWD, $mode needs $need_disk GiB")
fi
if [ ${#problems[@]} -gt 0 ]; then
  for p in "${problems[@]}"; do
    if [ "$evaluation" -eq 0 ]; then p="$p (use --evaluation for a trial on a smaller VM)"; fi
    printf 'install.sh: %s\n' "$p" >&2
  done
  exit 1
fi

cert=$CERT_DIR/fullchain.pem key=$CERT_DIR/privkey.pem
have_cert=0
if [ -s "$cert" ] && [ -s "$key" ]; then have_cert=1; fi
have_openssl=0
if command -v openssl >/dev/null 2>&1; then have_openssl=1; fi
if [ "$have_cert" -eq 0 ] && [ "$have_openssl" -eq 0 ]; then
  die "openssl is not installed; it is needed to create the first certificate (install the openssl package, or put your own $cert and $key in place)"
fi

say "Preflight passed ($mode): Docker Compose $compose_version, $cpus CPUs, $(gib "$mem_kb") GiB RAM, $(gib "$free_kb") GiB free disk."

# --- .env: keep every value, add only what is missing ------------------------------------------
# Value of KEY in .env (last assignment wins, as for Compose), without surrounding quotes.
env_get() {
  [ -f .env ] || return 1
  local line
  line=$(grep -E "^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=" .env | tail -n 1) || return 1
  line=${line#*=}
  line=${line#"${line%%[![:space:]]*}"}
  line=${line%"${line##*[![:space:]]}"}
  if [[ $line =~ ^\"(.*)\"$ || $line =~ ^\'(.*)\'$ ]]; then line=${BASH_REMATCH[1]}; fi
  printf '%s' "$line"
}
env_has() { [ -f .env ] && grep -qE "^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=" .env; }
random_hex() {
  if [ "$have_openssl" -eq 1 ]; then
    openssl rand -hex 24
  else
    od -An -tx1 -N24 /dev/urandom | tr -d ' \n'
    echo
  fi
}
header_written=0
env_append() {
  if [ "$header_written" -eq 0 ]; then
    # A file not ending in a newline would glue our first key onto its last line.
    if [ -s .env ] && [ -n "$(tail -c 1 .env)" ]; then echo >>.env; fi
    printf '\n# --- Added by scripts/install.sh on %s ---\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>.env
    header_written=1
  fi
  printf '%s=%s\n' "$1" "$2" >>.env
}

if [ -f .env ]; then
  say ".env: kept (existing values are never changed; only missing keys are added)."
else
  (
    umask 077
    if [ -f .env.example ]; then cp .env.example .env; else : >.env; fi
  )
  say ".env: created from .env.example (mode 0600)."
fi
if [ -n "$(find .env -perm /077 2>/dev/null)" ]; then
  chmod 600 .env
  say ".env: permissions tightened to 0600 (it holds passwords)."
fi

if env_has NGINX_SERVER_NAME; then
  current=$(env_get NGINX_SERVER_NAME)
  if [ "$domain_from_option" -eq 1 ] && [ "$current" != "$domain" ]; then
    warn "NGINX_SERVER_NAME in .env is '$current'; keeping it (edit .env to change the name), --domain $domain is ignored"
  fi
  domain=$current
else
  if [ -z "$domain" ]; then
    domain=$(hostname -f 2>/dev/null || true)
    if [ -z "$domain" ] || ! valid_name "$domain"; then domain=localhost; fi
  fi
  env_append NGINX_SERVER_NAME "$domain"
  say ".env: added NGINX_SERVER_NAME=$domain."
fi
valid_name "$domain" || die "NGINX_SERVER_NAME in .env ('$domain') is not a host name; fix it in .env"

# The ELK passwords are generated whether or not ELK runs now: the profile refuses to start
# without them (elk-certs checks), and enabling it later then needs no other step.
added=()
for k in "${ELK_KEYS[@]}"; do
  if ! env_has "$k"; then
    env_append "$k" "$(random_hex)"
    added+=("$k")
  fi
done
if [ ${#added[@]} -gt 0 ]; then say ".env: generated ${added[*]} (not shown; read them in .env)."; fi

profiles=()
if [ "$with_elk" -eq 1 ]; then
  if env_has COMPOSE_PROFILES; then
    current=$(env_get COMPOSE_PROFILES)
    if [[ ",${current// /}," == *,elk,* ]]; then
      say ".env: COMPOSE_PROFILES already includes elk."
    else
      updated=${current:+$current,}elk
      tmp=$(mktemp .env.XXXXXX)
      awk -v v="$updated" '
        /^[[:space:]]*(export[[:space:]]+)?COMPOSE_PROFILES[[:space:]]*=/ {
          sub(/=.*/, "="); print $0 v; next
        }
        { print }' .env >"$tmp"
      chmod 600 "$tmp"
      mv "$tmp" .env
      say ".env: COMPOSE_PROFILES is now $updated."
    fi
  else
    env_append COMPOSE_PROFILES elk
    say ".env: added COMPOSE_PROFILES=elk (plain \`docker compose\` commands include ELK too)."
  fi
  # NOTE: --profile replaces COMPOSE_PROFILES rather than adding to it, so pass every profile.
  IFS=, read -r -a listed <<<"${COMPOSE_PROFILES:-$(env_get COMPOSE_PROFILES)}"
  for p in "${listed[@]}" elk; do
    p=${p// /}
    if [ -n "$p" ] && [[ " ${profiles[*]} " != *" --profile $p "* ]]; then profiles+=(--profile "$p"); fi
  done
fi

# --- Certificate -------------------------------------------------------------------------------
if [ "$have_cert" -eq 1 ]; then
  say "Certificate: kept the existing $cert and $key."
else
  mkdir -p "$CERT_DIR"
  chmod 700 "$CERT_DIR"
  sh infra/nginx/generate-self-signed.sh "$cert" "$key" "$domain"
  say "Certificate: created a self-signed certificate for $domain in $CERT_DIR."
  say "  Browsers will warn about it until you install a real one: see \"TLS\" in docs/operations.md."
fi

# --- Owners the containers need ----------------------------------------------------------------
# nginx runs as uid 101 and reads the mounted certificate (production); the backup service runs as
# uid 1000, writes ./backups and copies .env into every backup.
mkdir -p backups
hand_over() {
  local uid=$1 who=$2 p
  shift 2
  local -a wrong=()
  for p in "$@"; do
    if [ "$(stat -c %u "$p")" != "$uid" ]; then wrong+=("$p"); fi
  done
  if [ ${#wrong[@]} -eq 0 ]; then return 0; fi
  if [ "$(id -u)" -eq 0 ]; then
    chown "$uid:$uid" "${wrong[@]}"
    say "Owner: ${wrong[*]} now belong to uid $uid ($who)."
  else
    warn "${wrong[*]} must belong to uid $uid ($who); run: sudo chown $uid:$uid ${wrong[*]}"
  fi
}
hand_over 1000 'the backup service writes backups/ and reads .env' backups .env
chmod 700 backups 2>/dev/null || true
if [ "$evaluation" -eq 0 ]; then
  hand_over 101 'nginx reads the certificate' "$CERT_DIR" "$cert" "$key"
fi

# --- Start -------------------------------------------------------------------------------------
compose=(docker compose "${files[@]}" "${profiles[@]}")
say "Starting: ${compose[*]} up -d --build"
"${compose[@]}" up -d --build || die "\`${compose[*]} up -d --build\` failed (exit $?); see its output above"

# --- Wait until healthy ------------------------------------------------------------------------
# One line of `ps --format json` per container (Compose 2.21+). The fields read here are plain
# strings or numbers, so a pattern match is enough and no JSON tool is needed on the host.
json_field() {
  if [[ $1 =~ \"$2\":\"([^\"]*)\" ]]; then
    printf '%s' "${BASH_REMATCH[1]}"
  elif [[ $1 =~ \"$2\":(-?[0-9]+) ]]; then
    printf '%s' "${BASH_REMATCH[1]}"
  fi
}

poll_s=${SB_INSTALL_POLL_S:-5}
start_ms=$(now_ms)
deadline_ms=$((start_ms + timeout_s * 1000))
last_summary='' last_print_ms=0
say "Waiting up to ${timeout_s}s for every service to be healthy…"
while :; do
  waiting=() waiting_names=() failed=() total=0
  if out=$("${compose[@]}" ps --all --format json 2>/dev/null); then
    declare -A seen=()
    while IFS= read -r line; do
      [[ $line == *'"Service"'* ]] || continue
      svc=$(json_field "$line" Service)
      state=$(json_field "$line" State)
      health=$(json_field "$line" Health)
      code=$(json_field "$line" ExitCode)
      [ -n "${seen[$svc]:-}" ] || total=$((total + 1))
      seen[$svc]=1
      if [ "$state" = running ] && { [ "$health" = healthy ] || [ -z "$health" ]; }; then
        continue
      elif [ "$state" = exited ] && [ "${code:-0}" = 0 ]; then
        continue
      elif [ "$state" = exited ] || [ "$state" = dead ]; then
        failed+=("$svc (exited with code ${code:-?})")
      else
        if [[ " ${waiting_names[*]} " != *" $svc "* ]]; then
          waiting+=("$svc (${health:-$state})")
          waiting_names+=("$svc")
        fi
      fi
    done <<<"$out"
    unset seen
  else
    waiting+=('`docker compose ps` failed')
  fi
  if [ "$total" -eq 0 ] && [ ${#waiting[@]} -eq 0 ]; then waiting+=('no containers yet'); fi

  elapsed_s=$((($(now_ms) - start_ms) / 1000))
  if [ ${#failed[@]} -gt 0 ]; then
    for f in "${failed[@]}"; do printf 'install.sh: %s\n' "$f" >&2; done
    die "a service failed to start after ${elapsed_s}s. See why with: docker compose ${files[*]} logs ${failed[0]%% *}"
  fi
  if [ ${#waiting[@]} -eq 0 ]; then
    say "[${elapsed_s}s] all $total services are healthy or finished."
    break
  fi
  # One line per 10 s, and whenever something changed.
  summary="${waiting[*]}"
  now=$(now_ms)
  if [ "$summary" != "$last_summary" ] || [ $((now - last_print_ms)) -ge 10000 ]; then
    say "[${elapsed_s}s] waiting for ${#waiting[@]} of $total: ${waiting[*]}"
    last_summary=$summary last_print_ms=$now
  fi
  if [ "$now" -ge "$deadline_ms" ]; then
    printf 'install.sh: not healthy after %ss: %s\n' "$timeout_s" "${waiting[*]}" >&2
    if [ ${#waiting_names[@]} -gt 0 ]; then
      die "gave up waiting. See why with: docker compose ${files[*]} logs ${waiting_names[0]} (or raise --timeout)"
    fi
    die "gave up waiting. See what runs with: docker compose ${files[*]} ps --all (or raise --timeout)"
  fi
  sleep "$poll_s"
done

# --- Done --------------------------------------------------------------------------------------
say ''
say "Switchboard is running ($mode)."
say "  URL:          https://$domain$(env_get NGINX_HTTPS_PORT_SUFFIX || true)/"
token_cmd="docker compose ${files[*]} exec -T ingress-web cat /run/switchboard/secrets"
# A console token of its own for this run (8 hours, role admin): tokens are stored hashed, so the
# only time one can be shown is when it is made.
login_cmd="docker compose ${files[*]} exec admin switchboard token create --role admin --expire 8h --name <you>"
if token_json=$("${compose[@]}" exec -T admin switchboard token create --role admin --expire 8h \
  --name "install-$(date +%Y%m%d-%H%M%S)" --json 2>/dev/null) &&
  token=$(printf '%s' "$token_json" | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p') && [ -n "$token" ]; then
  say "  Admin token:  $token"
  say "                (console login at https://$domain$(env_get NGINX_HTTPS_PORT_SUFFIX || true)/admin, role admin, valid 8 hours;"
  say "                 make more with: $login_cmd)"
else
  warn "could not create a console token yet; make one with: $login_cmd"
fi
say "  API token:    $token_cmd/api_token"
say ''
say 'Next steps:'
say "  - Use the same files for every command: docker compose ${files[*]} ps | logs | exec | down"
say '  - Operator guide (backups, upgrades, rotating secrets, alerts, logs, TLS): docs/operations.md'
say '  - Connect chat platforms: docs/connectors/README.md'
