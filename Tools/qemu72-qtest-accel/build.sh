#!/bin/sh
# Builds accel-qtest-x86_64.so, the qtest accelerator module Debian 12's qemu-system-x86 (QEMU 7.2)
# leaves out, from qtest_accel.c next to this script. Prints the module's path.
#
#   Tools/qemu72-qtest-accel/build.sh [OUTDIR]        # OUTDIR defaults to ./modules next to this script
#   QEMU_MODULE_DIR=OUTDIR qemu-system-x86_64 -accel qtest ...
#
# Needs qemu-system-x86 (7.2) and a C compiler. Nothing under /usr is changed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/modules}
shipped=/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so
if [ ! -f "$shipped" ]; then
    echo "build.sh: $shipped is missing (apt-get install qemu-system-x86)" >&2
    exit 1
fi
# QEMU loads a module only if it defines the build-stamp function of the running binary; every
# module Debian ships defines it, so take its name from one of them.
stamp=$(nm -D --defined-only "$shipped" | awk '$3 ~ /^qemu_stamp_/ { print $3; exit }')
if [ -z "$stamp" ]; then
    echo "build.sh: $shipped defines no qemu_stamp_* function" >&2
    exit 1
fi
mkdir -p "$out"
${CC:-cc} -O2 -fPIC -shared -Wall -Wextra -Werror -DQEMU_BUILD_STAMP="$stamp" \
    -o "$out/accel-qtest-x86_64.so" "$here/qtest_accel.c"
echo "$out/accel-qtest-x86_64.so ($stamp)"
