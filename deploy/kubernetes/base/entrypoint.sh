#!/bin/sh
# nslab in a Kubernetes pod: make the pod's own cgroup able to hold lab hosts, then serve.
#
# Kubernetes has no equivalent of `docker run --cgroupns=host`. A privileged container sees
# its OWN cgroup as /sys/fs/cgroup, mounted read-write, and nslab builds its tree
# (nslab/s<slot>/lab/init) below it, so every lab host counts against this pod's limits.
#
# cgroup v1 nodes: nothing to do here; each hierarchy (pids, memory, cpu, ...) is the
# container's own directory, and v1 lets a cgroup with processes have limited children.
#
# cgroup v2 nodes: the container's cgroup is the root of its cgroup namespace and holds
# this process, and v2 lets a cgroup hand controllers (pids, memory) to its children only
# when no process sits in it ("no internal processes"). So every process moves into a
# leaf first, as docker-in-docker and kind do; nslab then enables pids/memory/cpu itself.
set -eu
cg=/sys/fs/cgroup
if [ -f "$cg/cgroup.controllers" ]; then
    if ! mkdir -p "$cg/server" 2>/dev/null; then
        echo "nslab: $cg is read-only: the container must be privileged" >&2
        exit 1
    fi
    for pid in $(cat "$cg/cgroup.procs"); do
        echo "$pid" > "$cg/server/cgroup.procs" 2>/dev/null || :  # gone meanwhile: fine
    done
    if [ -n "$(cat "$cg/cgroup.procs")" ]; then
        echo "nslab: processes left in $cg: $(cat "$cg/cgroup.procs" | tr '\n' ' ')" >&2
        exit 1
    fi
fi
exec "$@"
