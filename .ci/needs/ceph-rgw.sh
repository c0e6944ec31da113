#!/usr/bin/env bash
# A single-node Ceph (mon, BlueStore OSD, RGW) for S3-compatible object storage in the scale-out tests.
set -euo pipefail
command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd >/dev/null
