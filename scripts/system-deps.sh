#!/usr/bin/env bash
# System packages the network-emulation tests and benchmark need (Debian/Ubuntu), installed
# only when missing, so running it again does nothing:
#   iproute2    `ip`: network namespaces, veth pairs, addresses
#   util-linux  `lscpu`: the machine line of bench/delayline.py
#   prometheus  `prometheus` and `promtool`: the alert rules' tests and the dashboard's queries
#               against a real Prometheus (tests/observability)
#   gcc         the C compiler cgo needs to build kine (its SQLite driver is C; devcluster)
# Tx checksum offload on the veths is switched off by the code itself (SIOCETHTOOL ioctl), so
# ethtool is not needed; the kernel's netem qdisc is not needed either (the delay is userspace).
set -euo pipefail

missing=()
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
command -v lscpu >/dev/null 2>&1 || missing+=(util-linux)
{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || missing+=(prometheus)
command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0  # all present: nothing to do
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
else
  sudo=(sudo)
fi
echo "[system-deps] installing: ${missing[*]}" >&2
"${sudo[@]}" apt-get update
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
