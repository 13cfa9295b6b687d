#!/bin/sh
# Builds IOMMUKit's release binaries and installs them into a prefix:
#   PREFIX/bin/iommukit                  the command line (run, serve, explain, decode, …)
#   PREFIX/bin/iommukit-qemu             the QEMU stand-in for qtest binaries
#   PREFIX/bin/iommukit-system-x86_64    a link to it: libqtest takes the target from the name
#   PREFIX/bin/iommukit-system-aarch64   another link: the Arm virt board (iommu=smmuv3)
# so that QTEST_QEMU_BINARY=PREFIX/bin/iommukit-system-x86_64 (or -aarch64) works from a QEMU
# build tree.
#
# Usage: Tools/install.sh PREFIX        (e.g. Tools/install.sh "$HOME/.local")
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: Tools/install.sh PREFIX (installs into PREFIX/bin)" >&2
    exit 64
fi
case "$1" in
    /*) prefix=$1 ;;
    *) prefix=$(pwd)/$1 ;;
esac
cd "$(dirname "$0")/.."

echo "building release binaries (swift build -c release)…"
swift build -c release --product iommukit
swift build -c release --product iommukit-qemu
bin=$(swift build -c release --show-bin-path)

mkdir -p "$prefix/bin"
for program in iommukit iommukit-qemu; do
    rm -f "$prefix/bin/$program"
    cp "$bin/$program" "$prefix/bin/$program"
    chmod 755 "$prefix/bin/$program"
done
ln -sf iommukit-qemu "$prefix/bin/iommukit-system-x86_64"
ln -sf iommukit-qemu "$prefix/bin/iommukit-system-aarch64"

echo "installed into $prefix/bin:"
for program in iommukit iommukit-qemu iommukit-system-x86_64 iommukit-system-aarch64; do
    if [ -L "$prefix/bin/$program" ]; then
        echo "  $program -> $(readlink "$prefix/bin/$program")"
    else
        echo "  $program"
    fi
done
"$prefix/bin/iommukit" --version
"$prefix/bin/iommukit-system-x86_64" --version | head -n 1
echo "use it: QTEST_QEMU_BINARY=$prefix/bin/iommukit-system-x86_64 ./tests/qtest/iommu-intel-test --tap -k"
echo "    or: QTEST_QEMU_BINARY=$prefix/bin/iommukit-system-aarch64 ./tests/qtest/iommu-smmuv3-test --tap -k"
