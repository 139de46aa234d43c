#!/usr/bin/env bash
# Opt-in aarch64 check (needs root): an emulated Debian arm64 root, edgekit's base install in
# it (aarch64 wheels only: no torch, no tensorflow), and `edgekit validate` of a bundle there.
#
#   sudo tests/arm/run.sh BUNDLE [CPU]   # a .task, .litertlm or ONNX folder, .edgekit.json beside it
#
# CPU is the core qemu emulates: cortex-a76 (Raspberry Pi 5, the default) or cortex-a72
# (Raspberry Pi 4: LiteRT-LM cannot start there, and validate names the LiteRT interpreter as
# its engine). qemu's own default ("max": SVE2, SME, ...) is no board's: LiteRT-LM's
# greedy text differs under it, so a board's core is named instead.
# The root is built once (~7 min) and cached in $EDGEKIT_ARM_ROOT (default
# ~/.cache/edgekit/arm64-root). Timings under qemu say nothing about a real board.
set -euo pipefail

bundle=$(realpath "${1:?usage: tests/arm/run.sh BUNDLE [CPU]}")
export QEMU_CPU=${2:-cortex-a76}
repo=$(cd "$(dirname "$0")/../.." && pwd)
root=${EDGEKIT_ARM_ROOT:-$HOME/.cache/edgekit/arm64-root}
[ "$(id -u)" = 0 ] || { echo "tests/arm/run.sh: needs root (debootstrap, chroot, binfmt)" >&2; exit 2; }
[ -f "$bundle.edgekit.json" ] || { echo "tests/arm/run.sh: $bundle has no manifest beside it" >&2; exit 2; }

step() { printf '[arm64 %s] %s\n' "$(date +%T)" "$*"; }

if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null; then
  step "installing qemu-user-static, binfmt-support, debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support debootstrap >/dev/null
fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true

if [ ! -x "$root/usr/bin/python3" ]; then
  step "debootstrap bookworm arm64 into $root (once)"
  mkdir -p "$root"
  debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$root" >/dev/null
fi
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
# The host's pip config names the registry; its local wheel folders do not exist in the root.
if [ -f /etc/pip.conf ]; then grep -v -e find-links -e 'file://' /etc/pip.conf > "$root/etc/pip.conf" || true; fi
# LiteRT-LM reads these; a bind-mounted host /sys crashes onnxruntime under qemu.
mkdir -p "$root/sys/devices/system/cpu"
for f in possible present online; do echo 0-1 > "$root/sys/devices/system/cpu/$f"; done

step "copying edgekit (tracked files) and the bundle"
rm -rf "$root/opt/edgekit" "$root/opt/bundle"
mkdir -p "$root/opt/edgekit" "$root/opt/bundle"
git -C "$repo" ls-files -z | (cd "$repo" && xargs -0 cp --parents -t "$root/opt/edgekit")
cp -r "$bundle" "$bundle.edgekit.json" "$root/opt/bundle/"

mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true' EXIT

started=$(date +%s)
step "pip install /opt/edgekit (base install) under emulation"
chroot "$root" /bin/sh -c "python3 -m venv --clear /opt/venv && /opt/venv/bin/pip install -q /opt/edgekit"
chroot "$root" /opt/venv/bin/python -c "import platform, importlib.util as u; print('machine', platform.machine(), \
'heavy', [m for m in ('torch', 'tensorflow', 'transformers') if u.find_spec(m)])"
step "edgekit validate $(basename "$bundle") on an emulated $QEMU_CPU"
chroot "$root" /bin/sh -c "cd /tmp && EDGEKIT_CACHE=/tmp/edgekit-cache /opt/venv/bin/edgekit validate \
/opt/bundle/$(basename "$bundle")"
step "passed in $(( $(date +%s) - started )) s (install + validate, emulated)"
