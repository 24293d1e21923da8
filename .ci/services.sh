#!/usr/bin/env bash
# Make sure the local services the tests and the demo use are installed and running:
# PostgreSQL 15 (with plpgsql_check and pg_stat_statements) and Redis, on loopback.
set -euo pipefail

say() { printf '[services] %s\n' "$*"; }
need_apt=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql postgresql-contrib)
[ -d /usr/share/postgresql/15/extension ] && ls /usr/share/postgresql/15/extension/plpgsql_check*.control >/dev/null 2>&1 \
  || need_apt+=(postgresql-15-plpgsql-check)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing system packages: ${need_apt[*]} (install them with apt-get as root)"; exit 1
  fi
  say "installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PGVER=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
[ -n "$PGVER" ] || { say "no PostgreSQL cluster found under /etc/postgresql"; exit 1; }
CONF=/etc/postgresql/$PGVER/main/postgresql.conf
HBA=/etc/postgresql/$PGVER/main/pg_hba.conf
restart=0
if ! grep -Eq "^shared_preload_libraries *= *'[^']*pg_stat_statements" "$CONF"; then
  say "enabling pg_stat_statements in $CONF"
  echo "shared_preload_libraries = 'pg_stat_statements'   # added by .ci/services.sh" >> "$CONF"
  restart=1
fi
if ! grep -q "promptsales-local" "$HBA"; then
  # A local test cluster: loopback connections are trusted so tests need no password in the repo.
  say "trusting loopback connections in $HBA (local test cluster only)"
  sed -i '1i host all all 127.0.0.1/32 trust  # promptsales-local\nhost all all ::1/128 trust  # promptsales-local' "$HBA"
  restart=1
fi
if pg_lsclusters -h | awk '{print $4}' | grep -q online; then
  if [ $restart = 1 ]; then
    say "restarting PostgreSQL $PGVER"; pg_ctlcluster --skip-systemctl-redirect "$PGVER" main restart
  fi
else
  say "starting PostgreSQL $PGVER"; pg_ctlcluster --skip-systemctl-redirect "$PGVER" main start
fi
for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -q && break; sleep 1; done
pg_isready -h 127.0.0.1 -q || { say "PostgreSQL did not become ready"; exit 1; }

if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 20); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
redis-cli -h 127.0.0.1 ping >/dev/null || { say "Redis did not become ready"; exit 1; }
say "PostgreSQL $PGVER and Redis are up on 127.0.0.1"
