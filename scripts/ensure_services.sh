#!/usr/bin/env bash
# Make sure PostgreSQL (DATABASE_URL) and Redis (REDIS_URL) answer before tests or benchmarks run.
#
# Already up: nothing to do (the usual case on a developer machine; shared services are never restarted).
# Local and down: start them. Not installed and we are root (a fresh CI machine): install them from Debian,
# then start them. Anything else: stop with a message saying what to do.
set -euo pipefail

DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mssante}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"

say() { echo "ensure_services: $*"; }
die() { echo "ensure_services: ERREUR : $*" >&2; exit 1; }

# host and port from scheme://[user[:pass]@]host[:port][/...]
url_host() { local rest="${1#*://}"; rest="${rest##*@}"; rest="${rest%%/*}"; rest="${rest%%\?*}"; echo "${rest%%:*}"; }
url_port() {
  local rest="${1#*://}"; rest="${rest##*@}"; rest="${rest%%/*}"; rest="${rest%%\?*}"
  if [[ "$rest" == *:* ]]; then echo "${rest##*:}"; else echo "$2"; fi
}
url_user() {
  local rest="${1#*://}"
  if [[ "$rest" == *@* ]]; then rest="${rest%%@*}"; echo "${rest%%:*}"; else echo "postgres"; fi
}
is_local() { [[ "$1" == "127.0.0.1" || "$1" == "localhost" || "$1" == "::1" || -z "$1" ]]; }
am_root() { [[ "$(id -u)" == "0" ]]; }

apt_install() {
  am_root || return 1
  command -v apt-get >/dev/null || return 1
  say "installation de $* (apt-get)…"
  export DEBIAN_FRONTEND=noninteractive
  if [[ ! -f /tmp/.mssante-apt-updated ]]; then apt-get update -qq && touch /tmp/.mssante-apt-updated; fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- PostgreSQL ---------------------------------------------------------------------------------------
pg_ok() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 3; }

start_postgres() {
  local version
  version="$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1 || true)"
  if [[ -z "$version" ]]; then
    apt_install postgresql || return 1
    version="$(ls /etc/postgresql | sort -n | tail -1)"
  fi
  am_root || return 1
  say "démarrage de PostgreSQL $version (cluster main)…"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || return 1
  for _ in $(seq 1 30); do pg_ok && return 0; sleep 1; done
  return 1
}

ensure_pg_role() {
  # Fresh Debian clusters only know the `postgres` role with peer auth on the socket: create the URL's role
  # (superuser, for the tests' CREATE DATABASE) and let loopback TCP connect without a password.
  local role; role="$(url_user "$DATABASE_URL")"
  if psql -h "$PG_HOST" -p "$PG_PORT" -U "$role" -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then return 0; fi
  am_root || die "PostgreSQL répond mais refuse le rôle « $role » ; créez-le (createuser -s $role) ou corrigez DATABASE_URL."
  local version; version="$(ls /etc/postgresql | sort -n | tail -1)"
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q "mssante-ci" "$hba"; then
    say "pg_hba : connexions locales en TCP sans mot de passe (machine de CI/développement)"
    sed -i '1i host all all 127.0.0.1/32 trust # mssante-ci\nhost all all ::1/128 trust # mssante-ci' "$hba"
    runuser -u postgres -- psql -q -p "$PG_PORT" -c 'SELECT pg_reload_conf()' >/dev/null
  fi
  runuser -u postgres -- psql -q -p "$PG_PORT" -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$role'" | grep -q 1 ||
    runuser -u postgres -- psql -q -p "$PG_PORT" -c "CREATE ROLE \"$role\" LOGIN SUPERUSER"
  psql -h "$PG_HOST" -p "$PG_PORT" -U "$role" -d postgres -tAc 'SELECT 1' >/dev/null ||
    die "le rôle « $role » ne peut toujours pas se connecter à PostgreSQL ($PG_HOST:$PG_PORT)."
}

PG_HOST="$(url_host "$DATABASE_URL")"; PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="$(url_port "$DATABASE_URL" 5432)"
case "$DATABASE_URL" in
  sqlite*) say "DATABASE_URL est SQLite : rien à démarrer pour la base" ;;
  *)
    command -v pg_isready >/dev/null || apt_install postgresql-client postgresql ||
      die "pg_isready introuvable : installez PostgreSQL (apt-get install postgresql) ou démarrez-le vous-même."
    if pg_ok; then
      say "PostgreSQL répond ($PG_HOST:$PG_PORT)"
    elif is_local "$PG_HOST"; then
      start_postgres ||
        die "PostgreSQL ne répond pas sur $PG_HOST:$PG_PORT et je ne peux pas le démarrer.
  Démarrez-le (sudo pg_ctlcluster <version> main start), ou installez-le (sudo apt-get install postgresql),
  ou pointez DATABASE_URL vers un serveur qui répond."
      say "PostgreSQL démarré ($PG_HOST:$PG_PORT)"
    else
      die "PostgreSQL ne répond pas sur $PG_HOST:$PG_PORT (serveur distant : je ne le démarre pas)."
    fi
    if is_local "$PG_HOST"; then ensure_pg_role; fi
    ;;
esac

# --- gpg (backups: apps/backup encrypts dumps with Debian's gpg through python-gnupg) --------------------
command -v gpg >/dev/null && command -v gpgconf >/dev/null || apt_install gnupg ||
  die "gpg introuvable : installez-le (apt-get install gnupg) ; les sauvegardes en ont besoin."

# --- Redis -----------------------------------------------------------------------------------------------
R_HOST="$(url_host "$REDIS_URL")"; R_HOST="${R_HOST:-127.0.0.1}"
R_PORT="$(url_port "$REDIS_URL" 6379)"
redis_ok() { redis-cli -h "$R_HOST" -p "$R_PORT" ping 2>/dev/null | grep -q PONG; }

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server || return 1
  # Debian's directories when we may write there (root), a temporary one otherwise.
  local dir=/var/lib/redis log=/var/log/redis/ci.log
  mkdir -p "$dir" /var/log/redis 2>/dev/null && [[ -w "$dir" && -w /var/log/redis ]] ||
    { dir="$(mktemp -d)"; log="$dir/redis.log"; }
  say "démarrage de redis-server sur le port $R_PORT…"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$R_PORT" --save "" --appendonly no \
    --dir "$dir" --logfile "$log" || return 1
  for _ in $(seq 1 30); do redis_ok && return 0; sleep 0.5; done
  return 1
}

command -v redis-cli >/dev/null || apt_install redis-tools redis-server ||
  die "redis-cli introuvable : installez Redis (apt-get install redis-server) ou démarrez-le vous-même."
if redis_ok; then
  say "Redis répond ($R_HOST:$R_PORT)"
elif is_local "$R_HOST"; then
  start_redis ||
    die "Redis ne répond pas sur $R_HOST:$R_PORT et je ne peux pas le démarrer.
  Démarrez-le (redis-server --daemonize yes --port $R_PORT), ou installez-le (sudo apt-get install redis-server),
  ou pointez REDIS_URL vers un serveur qui répond."
  say "Redis démarré ($R_HOST:$R_PORT)"
else
  die "Redis ne répond pas sur $R_HOST:$R_PORT (serveur distant : je ne le démarre pas)."
fi
