#!/usr/bin/env bash
# Stop the daemons that setup.sh started, through their pid files, then purge the packages setup.sh installed
# (a machine that had them before keeps them; CCRK_SLURM_KEEP_PACKAGES=1 keeps them for the next run).
# Two phases (SLURM daemons, then the database and munge they talk to), each stopped in parallel.
stop() { # stop <pidfile...>: SIGTERM each, wait up to 15 s for all, remove the pid files
  local pids=() pf pid
  for pf in "$@"; do
    [ -s "$pf" ] || continue
    pid=$(cat "$pf")
    kill "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$pf"  # a stale pid file makes `apt-get purge slurmctld` fail (its prerm runs scancel)
  done
  for _ in $(seq 1 60); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.25
  done
}
stop /run/slurmd.pid /run/slurmctld.pid
stop /run/slurmdbd.pid /run/mysqld/mysqld.pid /run/munge/munged.pid

installed=/var/lib/ccrk-slurm-test/installed
if [ -s "$installed" ] && [ -z "${CCRK_SLURM_KEEP_PACKAGES:-}" ]; then
  # policy-rc.d 101: the packages' scripts must not try to stop services through an init system
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $(sort -u "$installed") >/dev/null 2>&1 \
    && rm -f "$installed" || echo "teardown.sh: apt-get purge failed; packages left installed" >&2
  rm -f /usr/sbin/policy-rc.d
fi
