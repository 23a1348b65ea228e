#!/usr/bin/env bash
# Make sure what the test suite needs is present and running; do nothing that is already done.
# PostgreSQL (127.0.0.1:5432, trust) and Redis (127.0.0.1:6379) are started only when not answering;
# Chromium is installed from Debian only when missing.
set -euo pipefail
say() { echo "[services] $*" >&2; }
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

apt_pkgs=()
command -v pg_ctlcluster >/dev/null 2>&1 || apt_pkgs+=(postgresql)
command -v redis-server >/dev/null 2>&1 || apt_pkgs+=(redis-server)
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_pkgs+=(postgresql)
[ -x /usr/bin/chromium ] || apt_pkgs+=(chromium)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  if pg_up && redis_up && [ -x /usr/bin/chromium ]; then :; else
    say "installing ${apt_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
  fi
fi

if pg_up; then say "PostgreSQL is up"; else
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! grep -q '^# tbhub-trust' "$hba"; then
    $SUDO sed -i -E 's/^(local|host)(\s+.*\s)(peer|scram-sha-256|md5)\s*$/\1\2trust/' "$hba"
    echo '# tbhub-trust' | $SUDO tee -a "$hba" >/dev/null
  fi
  say "starting PostgreSQL $ver"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start
  for _ in $(seq 100); do pg_up && break; sleep 0.2; done
  pg_up || { say "PostgreSQL did not start"; exit 1; }
fi
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='root'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -qc "CREATE ROLE root SUPERUSER LOGIN"

if redis_up; then say "Redis is up"; else
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/tbhub.log
  for _ in $(seq 100); do redis_up && break; sleep 0.1; done
  redis_up || { say "Redis did not start"; exit 1; }
fi
