#!/usr/bin/env bash
# check-qemu.sh QEMU: refuses a QEMU without the fix for CVE-2023-2861 (its 9p server let a guest
# open device nodes on the host's filesystem through the share): 8.0.3 and later, or 7.2.4 and a
# later 7.2. The payload ships the QEMU it checks here.
set -euo pipefail
qemu=$1
ver=$("$qemu" --version | sed -n 's/^QEMU emulator version \([0-9]*\.[0-9]*\.[0-9]*\).*/\1/p' | head -1)
if [ -z "$ver" ]; then
  echo "payload: cannot read the version of $qemu ($qemu --version)" >&2
  exit 1
fi
IFS=. read -r major minor patch <<<"$ver"
fixed=0
if [ "$major" -gt 8 ] || { [ "$major" -eq 8 ] && { [ "$minor" -gt 0 ] || [ "$patch" -ge 3 ]; }; }; then
  fixed=1
elif [ "$major" -eq 7 ] && [ "$minor" -eq 2 ] && [ "$patch" -ge 4 ]; then
  fixed=1
fi
if [ "$fixed" != 1 ]; then
  echo "payload: QEMU $ver at $qemu lacks the fix for CVE-2023-2861 (a guest could open host" \
    "device nodes through 9p); install QEMU 8.0.3 or later (Debian 12: bookworm-backports, as" \
    "'make setup' does)" >&2
  exit 1
fi
