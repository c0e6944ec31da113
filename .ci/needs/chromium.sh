#!/usr/bin/env bash
# The dashboard's browser tests (packages/server/test/ui.int.test.ts) drive Debian's chromium
# through playwright-core; Playwright's own browser download cannot reach its host here.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
export DEBIAN_FRONTEND=noninteractive
# Another install may hold the dpkg lock (one script per need): wait for it.
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version
