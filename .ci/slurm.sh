#!/usr/bin/env bash
# Start a one-node Slurm cluster on localhost (munge, slurmctld, slurmd) for
# the Slurm backend's tests, following docs/slurm.md. No systemd here: the
# daemons are started by hand. Idempotent: safe to run again.
#
# The node advertises SLURM_CPUS CPUs (default 16, more than the machine has,
# via config_overrides) because Slurm starts about one batch job per free CPU
# per scheduler pass; tests of many short jobs would otherwise crawl.
set -euo pipefail
cpus=${SLURM_CPUS:-16}
node=$(hostname -s)
mem=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) - 1024 ))

if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || mungekey --create >/dev/null 2>&1 || mungekey -c
    chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge; chown munge:munge /run/munge
    rm -f /run/munge/munged.pid /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    runuser -u munge -- /usr/sbin/munged --force
fi

mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
chown slurm:slurm /var/spool/slurmctld /var/log/slurm /run/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=qmfgrid
SlurmctldHost=localhost
AuthType=auth/munge
CredType=cred/munge
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
MaxArraySize=100001
MaxJobCount=200000
MinJobAge=300
ReturnToService=2
MailProg=/bin/true
SlurmdParameters=config_overrides
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

# slurmrestd (the agent's SLURM_RESTD_SOCKET) on a Unix socket with local
# auth: it submits as the user it runs as, so it runs as root (the agent's
# user; disable_user_check allows that) and its socket sits in a directory
# only root can enter -- whoever reaches the socket submits as root.
rest_socket=/run/slurmrestd/rest.sock
rest_answers() {
    python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' \
        "$rest_socket" 2>/dev/null
}
start_slurmrestd() {
    command -v slurmrestd >/dev/null || { echo "slurmrestd not installed" >&2; return 1; }
    install -d -m 0700 -o root -g root /run/slurmrestd
    rest_answers && return 0
    # one that does not answer (stopping, or stale): gone before a fresh start
    if pkill -x slurmrestd; then sleep 1; pkill -9 -x slurmrestd || true; fi
    rm -f "$rest_socket"
    SLURMRESTD_SECURITY=disable_user_check setsid slurmrestd -a rest_auth/local \
        -s openapi/v0.0.38 "unix:$rest_socket" >/var/log/slurm/slurmrestd.log 2>&1 &
    for _ in $(seq 1 50); do
        rest_answers && return 0
        sleep 0.1
    done
    echo "slurmrestd did not come up; see /var/log/slurm/slurmrestd.log" >&2
    return 1
}

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd -N "$node"
for i in $(seq 1 30); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        # A node can show idle from saved state before slurmd re-registers:
        # a trivial job proves the node really runs work.
        if timeout 20 srun -N1 -n1 /bin/true 2>/dev/null; then
            start_slurmrestd
            echo "slurm up: node $node, $cpus CPUs; slurmrestd on $rest_socket"; exit 0
        fi
    fi
    sleep 1
done
echo "slurm did not come up; see /var/log/slurm" >&2
tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
