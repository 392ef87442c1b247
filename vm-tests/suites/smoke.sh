#!/bin/sh
# mmstall suite `smoke`: the guest kernel has what stall tests rely on
# (kernel-configs/stall-debug). Prints TAP; exits 1 when a check fails.
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
check() { name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else notok "$name"; fi; }

echo "# kernel $(uname -r), $(nproc) cpu(s)"
check "hung task detector (/proc/sys/kernel/hung_task_timeout_secs)" test -e /proc/sys/kernel/hung_task_timeout_secs
check "soft lockup detector (/proc/sys/kernel/soft_watchdog)" test -e /proc/sys/kernel/soft_watchdog
check "sysrq (/proc/sysrq-trigger)" test -e /proc/sysrq-trigger

T=/sys/kernel/tracing
[ -d "$T/events" ] || mount -t tracefs nodev "$T" 2>/dev/null
check "tracefs mounted" test -d "$T/events"
check "mmap_lock tracepoints (events/mmap_lock/mmap_lock_acquire_returned)" test -d "$T/events/mmap_lock/mmap_lock_acquire_returned"
[ -d /sys/kernel/debug/tracing ] || mount -t debugfs nodev /sys/kernel/debug 2>/dev/null
check "debugfs" test -d /sys/kernel/debug/tracing

W=$(mktemp -d /dev/shm/mmstall.XXXXXX 2>/dev/null || mktemp -d)
swaptest() {
    dd if=/dev/zero of="$W/swap" bs=1M count=16 2>/dev/null || return 1
    dev=$(losetup -f --show "$W/swap") || return 1
    mkswap "$dev" && swapon "$dev" && grep -q "^$dev " /proc/swaps
    rc=$?
    swapoff "$dev" 2>/dev/null
    losetup -d "$dev"
    return $rc
}
check "swap on a loop device" swaptest
check "device mapper (/proc/misc)" grep -qw device-mapper /proc/misc
if command -v dmsetup >/dev/null 2>&1; then
    check "dm-delay target" sh -c "dmsetup targets | grep -qw delay"
else
    echo "# dmsetup not installed on the host: dm-delay target not checked"
fi
check "userfaultfd (/dev/userfaultfd)" test -e /dev/userfaultfd
cgtest() {
    mkdir -p "$W/cg" && mount -t cgroup2 none "$W/cg" || return 1
    grep -qw memory "$W/cg/cgroup.controllers"
    rc=$?
    umount "$W/cg"
    return $rc
}
check "memory cgroup (cgroup2 memory controller)" cgtest
rm -rf "$W"
echo "1..$n"
exit $fail
