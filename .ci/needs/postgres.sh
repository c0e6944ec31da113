#!/usr/bin/env bash
# PostgreSQL 15 for the scale-out tests (tests/services starts it with initdb/pg_ctl, not the system service).
set -euo pipefail
[ -x /usr/lib/postgresql/15/bin/pg_ctl ] && exit 0
export DEBIAN_FRONTEND=noninteractive
# Another install may hold the dpkg lock (one script per need, or a developer's apt-get): wait for it.
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql >/dev/null
