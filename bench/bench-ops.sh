#!/bin/sh
# Builds and runs bench/bench-ops.c against build/libdltools.a.
#   bench/bench-ops.sh [threads]     (threads <= 0 or absent: all cores)
set -e
cd "$(dirname "$0")/.."
make --no-print-directory -s build/libdltools.a >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -Ilib $(pkg-config --cflags openblas) \
	bench/bench-ops.c build/libdltools.a $(pkg-config --libs openblas) \
	$(pkg-config --libs zlib libcrypto libcurl 2>/dev/null) -lm -pthread -o build/bench-ops
exec build/bench-ops "$@"
