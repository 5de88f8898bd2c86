#!/usr/bin/env bash
# Stop the private Postfix instance that ci/postfix/setup.sh created in DIR, and wait until its
# master process has exited. Safe to run when it is not running (or DIR has no instance).
#
#   ci/postfix/stop.sh DIR
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -d "$1" ] || exit 0
dir=$(cd "$1" && pwd -P)
conf=$dir/etc
[ -f "$conf/main.cf" ] || exit 0
[ "$(id -u)" = 0 ] || { echo "stop.sh: must run as root" >&2; exit 1; }

pidfile=$dir/queue/pid/master.pid
pid=$(tr -d ' \n' <"$pidfile" 2>/dev/null || true)
if postfix -c "$conf" status >/dev/null 2>&1; then
    postfix -c "$conf" stop >/dev/null 2>&1 || true
fi
# `postfix stop` only signals the master; wait for it (and so for its children) to be gone.
if [ -n "$pid" ]; then
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || exit 0
        sleep 0.1
    done
    echo "stop.sh: master (pid $pid) did not exit within 10 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
fi
