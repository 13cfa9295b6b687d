#!/usr/bin/env bash
# Installs the current QEMU (Debian unstable's 11.x build: iommu-testdev, intel-iommu with first-stage
# translation, arm-smmuv3, riscv-iommu and the qtest accelerator) into a chroot and prints the folder of
# wrappers (qemu-system-x86_64, qemu-system-aarch64, qemu-system-riscv64) that run it there.
#
#   bin=$(Tools/qemu-current.sh [ROOT])        # ROOT defaults to /srv/qemu-current; wrappers in ROOT.bin
#
# Needs root (debootstrap, chroot, mounts). The first run takes about 40 s; later runs only check the
# mounts and rewrite the wrappers. An installation already present (for instance made by another
# copy of this script) is reused as it is.
#
# The chroot sees the host's /tmp, /proc and /dev through mounts, so unix sockets handed to QEMU must
# be under /tmp. To delete ROOT, unmount ROOT/tmp, ROOT/proc and ROOT/dev first: removing it with
# the mounts in place would empty the host's /tmp and /dev. This script does that itself when it has
# to start over from a half-made ROOT.
set -euo pipefail
root=${1:-/srv/qemu-current}
wrappers=$root.bin
say() { echo "qemu-current.sh: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
    say "needs root (debootstrap, chroot and bind mounts)"
    exit 1
fi

# Which Debian mirror apt uses here (deb822 sources first, then the one-line format).
find_mirror() {
    local file
    for file in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk '$1 == "URIs:" { print $2; exit }' "$file"
        return
    done
    if [ -f /etc/apt/sources.list ]; then
        awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list
    fi
}

release_mounts() {
    local point
    for point in tmp proc dev; do
        if mountpoint -q "$root/$point" 2>/dev/null; then umount -l "$root/$point"; fi
    done
}

if [ ! -x "$root/usr/bin/qemu-system-x86_64" ]; then
    mirror=$(find_mirror)
    if [ -z "$mirror" ]; then
        say "no Debian mirror found in apt's sources"
        exit 1
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    # Start over from nothing, without ever following a mount into the host.
    release_mounts
    rm -rf --one-file-system "$root"
    say "installing Debian sid's QEMU into $root (about 40 s)"
    if ! debootstrap --variant=minbase --include=qemu-system-x86,qemu-system-arm,qemu-system-misc \
        sid "$root" "$mirror" >"$root.log" 2>&1; then
        tail -20 "$root.log" >&2
        say "debootstrap failed (log: $root.log)"
        exit 1
    fi
fi

mkdir -p "$root/tmp" "$root/proc" "$root/dev"
mountpoint -q "$root/tmp" || mount --bind /tmp "$root/tmp"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"

mkdir -p "$wrappers"
for arch in x86_64 aarch64 riscv64; do
    wrapper=$wrappers/qemu-system-$arch
    printf '#!/bin/sh\nexec chroot %s /usr/bin/qemu-system-%s "$@"\n' "$root" "$arch" >"$wrapper.new"
    chmod 755 "$wrapper.new"
    mv -f "$wrapper.new" "$wrapper"
done
"$wrappers/qemu-system-x86_64" --version | head -1 >&2
echo "$wrappers"
