#!/usr/bin/env bash
# The cost of one container size sweep: for CONTAINERS active snapshots of the overlay
# snapshotter, with file counts spread geometrically from MIN_FILES to MAX_FILES, the CPU seconds
# of one sweep three ways, side by side:
#   - usage(key) of every snapshot: one quotactl each when the filesystem has project quotas;
#   - a walk of every upper dir (what usage does without them);
#   - `du -s --block-size=1` of every upper dir (CPU of the du processes, from bash's `time`).
# Each on the same freshly formatted ext4 (a loop device, as shared/BENCHMARKING.md asks), made
# with `mkfs.ext4 -O quota,project` and mounted `prjquota`; --no-quota formats a plain ext4 (a
# kernel without CONFIG_QFMT_V2 mounts no other), where usage walks too. A kernel without quota
# support can run this under User-mode Linux: scripts/uml-run bench/sizes.sh (slower syscalls
# there: compare its columns with each other, not with a real kernel's).
#
# Usage: bench/sizes.sh [--containers N] [--min-files N] [--max-files N] [--rounds N] [--work DIR] [--no-quota]
# Needs root, overlayfs, java 17 and the build: mvn -q -pl snapshotter -am test-compile
set -euo pipefail
containers=100
min_files=1000
max_files=100000
rounds=3
work=""
features="quota,project"
options="loop,prjquota"
while [ $# -gt 0 ]; do
  case "$1" in
    --containers) containers="$2"; shift 2 ;;
    --min-files) min_files="$2"; shift 2 ;;
    --max-files) max_files="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --no-quota) features=""; options="loop"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
top="$(cd "$(dirname "$0")/.." && pwd)"
[ "$(id -u)" = 0 ] || { echo "needs root (loop and overlay mounts)" >&2; exit 1; }
classes="$top/snapshotter/target/test-classes"
[ -f "$classes/dev/lamina/snapshots/overlay/SizeSweepBench.class" ] ||
  { echo "no SizeSweepBench: (cd $top && mvn -q -pl snapshotter -am test-compile)" >&2; exit 1; }
[ -n "$work" ] || work="$(mktemp -d /tmp/lamina-sizes.XXXXXX)"
mkdir -p "$work/fs"
cleanup() {
  set +e
  umount "$work/fs" 2>/dev/null || umount -l "$work/fs" 2>/dev/null
  rm -f "$work/ext4.img"
  if [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work" >&2; fi
}
trap cleanup EXIT
cp_file="$work/classpath"
(cd "$top" && mvn -B -o -q -Dstyle.color=never dependency:build-classpath -pl snapshotter -Dmdep.includeScope=test \
  -Dmdep.outputFile="$cp_file" >/dev/null)
# 2.2M files of 0-4 KiB take one 4 KiB block each: about 9 GB, and 2.2M inodes
truncate -s 16G "$work/ext4.img"
mkfs.ext4 -q -F -b 4096 -N 3000000 ${features:+-O "$features"} "$work/ext4.img"
mount -o "$options" "$work/ext4.img" "$work/fs"
echo "ext4 ${features:+-O $features }mounted -o $options on $work/fs; $(uname -r), $(nproc) CPUs"

java -Xmx1g -cp "$classes:$top/snapshotter/target/classes:$(cat "$cp_file")" dev.lamina.snapshots.overlay.SizeSweepBench \
  "$work/fs" "$containers" "$min_files" "$max_files" "$rounds"

TIMEFORMAT='%3R %3U %3S'
cpus=()
for r in $(seq "$rounds"); do
  t=$( { time (while read -r d; do du -s --block-size=1 "$d" >/dev/null; done <"$work/fs/uppers.txt"); } 2>&1 )
  read -r real user sys <<<"$t"
  cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')")
  last_real=$real
done
sorted=$(printf '%s\n' "${cpus[@]}" | sort -n)
median=$(echo "$sorted" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
printf '%-18s CPU s per sweep: median %s (%s); wall s: last %s\n' "du -s" "$median" "${cpus[*]}" "$last_real"
