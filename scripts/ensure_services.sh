#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1 for the tests: start them if they are installed
# but stopped; say clearly what is missing otherwise. Idempotent and quick when both are up.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
  fi
  pg_up || { echo "PostgreSQL is not answering on 127.0.0.1:5432 and could not be started (install postgresql)." >&2; exit 1; }
fi

if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 50); do redis_up && break; sleep 0.1; done
  fi
  redis_up || { echo "Redis is not answering on 127.0.0.1:6379 and could not be started (install redis-server)." >&2; exit 1; }
fi
# The tests' own PostgreSQL role: a password (kept in ~/.pgpass, where libpq finds it, never in the
# repo or a command line) and only CREATEDB (pytest-django creates and drops its test database), not
# the `postgres` superuser. pg_hba.conf gets a scram-sha-256 rule for this role alone, ahead of the
# machine's other rules (which stay as they are: other projects on the machine rely on them), so a
# connection as this role without the password is refused.
TEST_ROLE=${SEQUENCE_TEST_DB_ROLE:-sequence_test}
PGPASS=${PGPASSFILE:-$HOME/.pgpass}
role_ok() { psql "postgres://$TEST_ROLE@127.0.0.1:5432/postgres" -Atqc "select 1" >/dev/null 2>&1; }
if ! role_ok; then
  password=$(awk -F: -v r="$TEST_ROLE" '$1=="127.0.0.1" && $4==r {print $5; exit}' "$PGPASS" 2>/dev/null || true)
  if [ -z "$password" ]; then
    password=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
    umask 077
    printf '127.0.0.1:5432:*:%s:%s\nlocalhost:5432:*:%s:%s\n' "$TEST_ROLE" "$password" "$TEST_ROLE" "$password" >> "$PGPASS"
  fi
  chmod 600 "$PGPASS"
  as_admin() { psql -h 127.0.0.1 -U "${SEQUENCE_PG_ADMIN:-postgres}" -d postgres -v ON_ERROR_STOP=1 -Atq "$@"; }
  # The password goes in on stdin (a psql variable), not on a command line other users can read.
  printf '%s\n' \
    "SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \\gexec" \
    "SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION PASSWORD %L', :'role', :'pw') \\gexec" \
    | as_admin -v role="$TEST_ROLE" -v pw="$password" >/dev/null \
    || { echo "could not create the PostgreSQL role $TEST_ROLE (set SEQUENCE_PG_ADMIN to a role that can)" >&2; exit 1; }
  hba=$(as_admin -c "show hba_file")
  if ! grep -qE "^host[[:space:]]+all[[:space:]]+$TEST_ROLE[[:space:]]" "$hba" 2>/dev/null; then
    [ -w "$hba" ] || { echo "$hba is not writable: add 'host all $TEST_ROLE 127.0.0.1/32 scram-sha-256' at its top" >&2; exit 1; }
    tmp=$(mktemp)
    { echo "# Sequence's test role: password only (scripts/ensure_services.sh)"
      echo "host all $TEST_ROLE 127.0.0.1/32 scram-sha-256"
      echo "host all $TEST_ROLE ::1/128 scram-sha-256"
      echo "local all $TEST_ROLE scram-sha-256"
      cat "$hba"; } > "$tmp"
    cat "$tmp" > "$hba" && rm -f "$tmp"
    as_admin -c "select pg_reload_conf()" >/dev/null
  fi
  for _ in $(seq 1 50); do role_ok && break; sleep 0.1; done
  role_ok || { echo "PostgreSQL refuses $TEST_ROLE with the password in $PGPASS" >&2; exit 1; }
fi

echo "PostgreSQL and Redis are up on 127.0.0.1"
