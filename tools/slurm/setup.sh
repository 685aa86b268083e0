#!/usr/bin/env bash
# A single-node SLURM "cluster" on localhost for CI and for trying profiles/slurm (Debian 12 / SLURM 22.05; root).
# munged + slurmctld + slurmd (+ slurmdbd + MariaDB, so that `sacct` works), started as plain background
# daemons: no systemd, no cgroups, no real GPU. Measured facts behind each choice: docs/slurm-test-cluster.md
#   SLURM_ACCT=dbd   (default) slurmdbd + MariaDB: sacct works, the snakemake plugin runs with its defaults
#   SLURM_ACCT=none  no database: the plugin MUST then poll with `--slurm-status-command squeue`
#   FAKE_GPUS=N      (default 1) advertise N fake GPUs (gres.conf, null devices) so --gpus/--gres jobs schedule
#   NODE_CPUS, NODE_MEM_MB  advertise a bigger node than the machine (default: the real one), so that a profile
#                    written for real nodes (8 CPUs, 96 GB for pretraining) schedules here; nothing is enforced
#   CI_ACCOUNT, CI_USER  the SLURM account and user association created in dbd mode (default: ci, the caller)
# Stop everything again with teardown.sh (same folder). Exits non-zero, with the daemon logs, if a step fails.
set -euo pipefail
SLURM_ACCT=${SLURM_ACCT:-dbd}
FAKE_GPUS=${FAKE_GPUS:-1}
CI_ACCOUNT=${CI_ACCOUNT:-ci}
CI_USER=${CI_USER:-${SUDO_USER:-$(id -un)}}
H=$(hostname -s)
LOGDIR=/var/log/slurm
export DEBIAN_FRONTEND=noninteractive

[ "$(id -u)" = 0 ] || { echo "setup.sh: needs root (daemons, /etc/slurm)" >&2; exit 2; }
command -v apt-get >/dev/null || { echo "setup.sh: needs apt-get (Debian/Ubuntu)" >&2; exit 2; }

wait_for() { # wait_for <seconds> <cmd...>: poll every 0.25 s
  local t=$1; shift
  for _ in $(seq 1 $((t * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  echo "timeout waiting for: $*" >&2; return 1
}
dump_logs() { tail -n 20 "$LOGDIR"/*.log >&2 2>/dev/null || true; }
trap 'echo "setup.sh failed (line $LINENO)" >&2; dump_logs' ERR

getent hosts "$H" >/dev/null || echo "127.0.0.1 $H" >> /etc/hosts

# ---------------------------------------------------------------- packages (apt-get update only when needed)
pkgs="munge slurmctld slurmd slurm-client"
[ "$SLURM_ACCT" = dbd ] && pkgs="$pkgs slurmdbd mariadb-server"
missing=$(for p in $pkgs; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  # policy-rc.d 101: apt must not try to start the daemons itself (no systemd here; we start them below)
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }
  rm -f /usr/sbin/policy-rc.d
  # teardown.sh purges what this script installed (and only that): a client left without its controller
  # would make every later `snakemake` start wait ~9 s on the executor plugin's `scontrol` probe
  install -d /var/lib/ccrk-slurm-test
  printf '%s\n' $missing >> /var/lib/ccrk-slurm-test/installed
fi

# ---------------------------------------------------------------- munge
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  wait_for 10 sh -c 'munge -n | unmunge'
fi

# ---------------------------------------------------------------- slurm.conf
install -d -o slurm -g slurm /var/spool/slurmctld "$LOGDIR"
install -d /var/spool/slurmd /etc/slurm
MEM=${NODE_MEM_MB:-$(( $(free -m | awk '/^Mem:/{print $2}') - 1024 ))}          # leave 1 GiB margin
NODELINE=$(slurmd -C | head -1 | sed "s/RealMemory=[0-9]*/RealMemory=$MEM/")
OVERRIDES=""
if [ -n "${NODE_CPUS:-}" ]; then  # one socket, one thread per core: CPUs = cores
  NODELINE=$(echo "$NODELINE" | sed -E "s/CPUs=[0-9]+/CPUs=$NODE_CPUS/; s/SocketsPerBoard=[0-9]+/SocketsPerBoard=1/;
    s/CoresPerSocket=[0-9]+/CoresPerSocket=$NODE_CPUS/; s/ThreadsPerCore=[0-9]+/ThreadsPerCore=1/")
fi
# slurmd drains a node whose configuration exceeds the hardware unless told to trust the configuration
[ -n "${NODE_CPUS:-}${NODE_MEM_MB:-}" ] && OVERRIDES="SlurmdParameters=config_overrides"
GRES=""
rm -f /etc/slurm/gres.conf
if [ "$FAKE_GPUS" -gt 0 ]; then
  GRES=" Gres=gpu:$FAKE_GPUS"
  # slurmd drops a GPU without File= ("Removing file-less GPU") and refuses two with the same file:
  # one null device node each
  install -d /run/ccrk-fake-gpus
  for i in $(seq 0 $((FAKE_GPUS - 1))); do
    [ -c /run/ccrk-fake-gpus/gpu$i ] || mknod -m 666 /run/ccrk-fake-gpus/gpu$i c 1 3
    echo "NodeName=$H Name=gpu File=/run/ccrk-fake-gpus/gpu$i"
  done > /etc/slurm/gres.conf
fi
if [ "$SLURM_ACCT" = dbd ]; then
  ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
else
  ACCT="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=localcluster
SlurmctldHost=$H
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without it, a job with no --mem takes the whole node's memory and jobs run one at a time
DefMemPerCPU=1000
ReturnToService=2
# keep finished jobs visible to squeue/scontrol for 5 min (the plugin needs >= 120 s when polling with squeue)
MinJobAge=300
GresTypes=gpu
$OVERRIDES
$ACCT
JobCompType=jobcomp/none
$NODELINE$GRES State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

# ---------------------------------------------------------------- MariaDB + slurmdbd
if [ "$SLURM_ACCT" = dbd ]; then
  if ! mariadb -e 'select 1' >/dev/null 2>&1; then
    install -d -o mysql -g mysql /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock \
      --pid-file=/run/mysqld/mysqld.pid --skip-networking > "$LOGDIR/mariadb.log" 2>&1 &
    wait_for 60 mariadb -e 'select 1'
  fi
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmci';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
LogFile=$LOGDIR/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=slurmci
CONF
  chown slurm:slurm /etc/slurm/slurmdbd.conf; chmod 600 /etc/slurm/slurmdbd.conf
  [ -s /run/slurmdbd.pid ] && kill -0 "$(cat /run/slurmdbd.pid)" 2>/dev/null || /usr/sbin/slurmdbd
  wait_for 60 sacctmgr -n list cluster          # slurmdbd answers (needs slurm.conf written first)
fi

# ---------------------------------------------------------------- slurmctld + slurmd (restarted: the config may have changed)
for pf in /run/slurmd.pid /run/slurmctld.pid; do
  [ -s "$pf" ] && kill "$(cat "$pf")" 2>/dev/null && sleep 0.5
  rm -f "$pf"
done
/usr/sbin/slurmctld
wait_for 30 scontrol ping
/usr/sbin/slurmd
# a node drained by an earlier run (e.g. an oversized registration) stays drained across restarts: resume it
scontrol update NodeName="$H" State=RESUME 2>/dev/null || true
wait_for 30 sh -c "sinfo -h -n $H -o %T | grep -qx idle" || {
  sinfo -R; dump_logs; exit 1; }

if [ "$SLURM_ACCT" = dbd ]; then
  # slurmctld registers the cluster itself; add an account and an association for the CI user
  sacctmgr -i -Q add account "$CI_ACCOUNT" Description=ci Organization=ci >/dev/null || true
  sacctmgr -i -Q add user "$CI_USER" Account="$CI_ACCOUNT" >/dev/null || true
fi
sinfo
echo "SLURM ready (acct=$SLURM_ACCT, fake_gpus=$FAKE_GPUS, account=$CI_ACCOUNT for $CI_USER)"
