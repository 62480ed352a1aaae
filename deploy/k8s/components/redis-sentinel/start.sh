#!/bin/sh
# Starts a member of Quiver's Redis Sentinel group (deploy/README.md): `start.sh server` one of
# its two Redis servers, `start.sh sentinel` one of its three sentinels. Compose mounts this
# file; Kubernetes has a copy in k8s/components/redis-sentinel (tests/test_deploy.py keeps
# them the same).
#
# Both need the server that is the primary now, which is not always the first one:
#   - the one a sentinel names;
#   - else (no sentinel answers: they restart too) the server that says it is a primary;
#   - else (the group's first start) $REDIS_FIRST_PRIMARY.
#
# Environment: QUIVER_REDIS_SENTINELS (host:port,...) and QUIVER_REDIS_MASTER, as the roles read
# them; REDIS_SERVERS, the two servers' host names; REDIS_FIRST_PRIMARY, one of them;
# REDIS_ANNOUNCE_HOST, the name the others reach this member by; for a sentinel,
# REDIS_DOWN_AFTER_MS, how long the primary may not answer before a failover starts.
set -eu

current_primary() {
  for sentinel in $(echo "$QUIVER_REDIS_SENTINELS" | tr ',' ' '); do
    named=$(timeout 3 redis-cli -h "${sentinel%:*}" -p "${sentinel##*:}" --raw \
      sentinel get-master-addr-by-name "$QUIVER_REDIS_MASTER" 2>/dev/null | head -n 1) || named=""
    if [ -n "$named" ]; then echo "$named"; return; fi
  done
  for server in $REDIS_SERVERS; do
    if [ "$server" != "$REDIS_ANNOUNCE_HOST" ] &&
      timeout 3 redis-cli -h "$server" info replication 2>/dev/null | grep -q '^role:master'; then
      echo "$server"; return
    fi
  done
  echo "$REDIS_FIRST_PRIMARY"
}

case "$1" in
  server)
    primary=$(current_primary)
    # Every write is in the append-only file before Redis answers, as wherever Quiver runs Redis.
    set -- --dir /data --appendonly yes --appendfsync always --save "" \
      --replica-announce-ip "$REDIS_ANNOUNCE_HOST"
    if [ "$primary" != "$REDIS_ANNOUNCE_HOST" ]; then
      set -- "$@" --replicaof "$primary" 6379
    fi
    exec docker-entrypoint.sh redis-server "$@"
    ;;
  sentinel)
    # Sentinel rewrites its file with what it learns (the other sentinels, failovers and their
    # epochs): on its volume, a restarted sentinel keeps it and needs nobody to tell it.
    conf=/data/sentinel.conf
    if [ ! -s "$conf" ]; then
      primary=$(current_primary)
      cat >"$conf" <<CONF
port 26379
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $REDIS_ANNOUNCE_HOST
sentinel monitor $QUIVER_REDIS_MASTER $primary 6379 2
sentinel down-after-milliseconds $QUIVER_REDIS_MASTER $REDIS_DOWN_AFTER_MS
sentinel failover-timeout $QUIVER_REDIS_MASTER 60000
sentinel parallel-syncs $QUIVER_REDIS_MASTER 1
CONF
    fi
    exec docker-entrypoint.sh redis-server "$conf" --sentinel
    ;;
  *)
    echo "usage: $0 server|sentinel" >&2
    exit 2
    ;;
esac
