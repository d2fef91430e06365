#!/bin/sh
# Debian's packages for the synchronous standby and its automatic failover (issue 8 §3):
# Patroni, etcd and the PostgreSQL server. Idempotent: installs only what is missing.
# The drill (`make drill`) and tests/chaos/test_failover_drill.py run them on their own
# ports and directories; nothing here configures or starts a service.
set -eu

missing=""
command -v patroni >/dev/null 2>&1 || missing="$missing patroni"
command -v etcd >/dev/null 2>&1 || missing="$missing etcd-server"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql-15"
[ -z "$missing" ] && exit 0

echo "installing Debian's$missing for the failover drill"
if [ "$(id -u)" -ne 0 ]; then
  # Not fatal: tests/chaos/test_failover_drill.py then skips (or fails under CI=true).
  echo "not root: install them with sudo apt-get install$missing" >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
# A package may start its own etcd on the machine's default ports (systemd hosts): the
# drill runs its own, so the packaged service stays off.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now etcd >/dev/null 2>&1 || true
fi
