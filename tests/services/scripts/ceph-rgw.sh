#!/usr/bin/env bash
# A throwaway single-node Ceph in DIR: one mon, one BlueStore OSD on a sparse file, RGW (beast)
# on 127.0.0.1, no mgr, auth none. Measured facts and pitfalls: shared/docs/ENVIRONMENT.md.
#   ceph-rgw.sh start DIR RGW_PORT MON_PORT ACCESS_KEY SECRET_KEY   returns once S3 answers
#   ceph-rgw.sh destroy DIR                                          kills the daemons, removes DIR
set -euo pipefail
cmd=${1:?usage: ceph-rgw.sh start|destroy DIR ...}
dir=${2:?DIR}
conf=$dir/ceph.conf

fail() {
  echo "ceph-rgw: $1" >&2
  for log in "$dir"/log/*.log; do [ -f "$log" ] && { echo "--- last lines of $log" >&2; tail -15 "$log" >&2; }; done
  exit 1
}

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.2; done
}

# Startup steps with their time, for the error message and for tuning.
step() { echo "$(date +%T.%N | cut -c1-12) $*" >>"$dir/log/steps.log"; }

# An anonymous ListBuckets answers 200 once RGW serves S3 (plain bash: no curl needed).
s3_answers() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  local status; read -r _ status _ <&3; exec 3<&-
  [ "$status" = 200 ]
}

# True while any of the pids runs; a zombie (killed, not yet reaped by init) does not count.
any_alive() { ps -o stat= -p "$(echo "$@" | tr ' ' ,)" 2>/dev/null | grep -qv '^Z'; }

# Nothing in DIR is worth a clean shutdown: SIGKILL, wait until the daemons are gone, remove it.
destroy() {
  local pids; pids=$(cat "$dir"/run/*.pid 2>/dev/null || true)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    for _ in $(seq 100); do any_alive $pids || break; sleep 0.05; done
  fi
  rm -rf "$dir"
}

case $cmd in
start)
  rgw_port=${3:?RGW_PORT} mon_port=${4:?MON_PORT} access_key=${5:?ACCESS_KEY} secret_key=${6:?SECRET_KEY}
  mkdir -p "$dir"/{run,log,mon,osd,rgw}
  step start
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
auth cluster required = none
auth service required = none
auth client required = none
# With auth none, every messenger mode must be crc or radosgw loops on "get_initial_auth_request returned -13".
ms mon client mode = crc
ms client mode = crc
ms mon cluster mode = crc
ms cluster mode = crc
ms service mode = crc
ms mon service mode = crc
# One OSD: pools of size 1, few PGs, replicas chosen across OSDs rather than hosts.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 1
osd pool default pgp num = 1
osd pool default pg autoscale mode = off
rgw rados pool pg num min = 1
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
# The mon batches map changes for 1 s by default: each RGW pool then costs 2 s to create.
paxos propose interval = 0.01
paxos min wait = 0.01
[mon]
mon data = $dir/mon
[osd]
osd data = $dir/osd
osd objectstore = bluestore
# The block file must be outside osd data, else mkfs fails with "(40) Too many levels of symbolic links".
bluestore block path = $dir/osd-block
bluestore block create = true
bluestore block size = 4294967296
osd memory target = 536870912
bluestore fsck on mkfs = false
# Each op shard opens and closes the block file at boot (0.3 s each); one test client needs few.
osd op num shards = 1
debug bluestore = 0/0
debug bluefs = 0/0
debug rocksdb = 0/0
[client.rgw]
rgw data = $dir/rgw
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
CONF

  step mon
  monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" >"$dir/log/mkfs-mon.out" 2>&1 || fail "mon mkfs failed"
  ceph-mon -c "$conf" -i a || fail "mon did not start"
  wait_for 30 ceph -c "$conf" --connect-timeout 5 mon stat || fail "mon did not answer in 30 s"

  step osd
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  osd_id=$(ceph -c "$conf" osd new "$osd_uuid") || fail "osd new failed"
  ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >"$dir/log/mkfs-osd.out" 2>&1 || fail "osd mkfs failed"
  ceph-osd -c "$conf" -i "$osd_id" 2>/dev/null || fail "osd did not start"
  wait_for 60 bash -c "ceph -c '$conf' osd dump --format json | grep -q '\"up\":1,\"in\":1'" || fail "osd not up and in after 60 s"

  step user
  # radosgw-admin creates RGW's pools on first use; it blocks until their PGs are active.
  timeout 60 radosgw-admin -c "$conf" -n client.rgw user create --uid=test --display-name=test \
    --access-key="$access_key" --secret-key="$secret_key" >"$dir/log/user-create.out" 2>&1 || fail "radosgw-admin user create failed"
  step rgw
  radosgw -c "$conf" -n client.rgw || fail "radosgw did not start"
  wait_for 60 s3_answers "$rgw_port" || fail "RGW did not answer on 127.0.0.1:$rgw_port in 60 s"
  step ready
  ;;
destroy) destroy ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
