#!/usr/bin/env bash
# Benchmarks `lamina layer apply` against GNU tar on the same layer, side by side.
#
# Method (see README "Benchmarks"): every run gets a freshly formatted ext4 on a loop device, runs
# alternate (lamina, tar, lamina, tar ...), one warm-up each, then RUNS counted; each timing
# includes a final `sync`. Wall time, CPU seconds and peak RSS come from /usr/bin/time.
#
# Usage: bench/layer-apply.sh [--runs N] [--source DIR] [--work DIR]
#   --source DIR   tree to turn into the layer (default: a debootstrap minbase rootfs, built once,
#                  plus a generated application tree: 20,000 small files, 4 x 12 MiB random jars,
#                  hard links and symlinks)
# Needs root (loop mounts), debootstrap, gzip, zstd, /usr/bin/time (package `time`).
set -euo pipefail
runs=5
work=/var/tmp/lamina-bench
source=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --source) source="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
top="$(cd "$(dirname "$0")/.." && pwd)"
lamina="$top/bin/lamina"
[ "$(id -u)" = 0 ] || { echo "bench needs root for loop mounts" >&2; exit 1; }
for tool in mkfs.ext4 losetup gzip zstd gawk /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install e2fsprogs gzip zstd gawk time)" >&2; exit 1; }
done
mkdir -p "$work"

if [ -z "$source" ]; then
  source="$work/source"
  if [ ! -f "$work/source.done" ]; then
    rm -rf "$source"
    echo "building the source tree in $source (debootstrap minbase + application files) ..." >&2
    debootstrap --variant=minbase bookworm "$source" >/dev/null
    rm -rf "$source"/var/lib/apt/lists/* "$source"/var/cache/apt/*
    python3 - "$source/app" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(42)
words = [("w%05d" % i) for i in range(5000)]
for i in range(20000):
    d = os.path.join(root, "src", "m%03d" % (i % 400))
    os.makedirs(d, exist_ok=True)
    size = rnd.randint(100, 16 * 1024)
    text = []
    n = 0
    while n < size:
        w = rnd.choice(words)
        text.append(w)
        n += len(w) + 1
    with open(os.path.join(d, "f%05d.txt" % i), "w") as f:
        f.write(" ".join(text)[:size])
for i in range(3000):
    d = os.path.join(root, "conf", "c%02d" % (i % 60))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "c%04d.json" % i), "w") as f:
        f.write('{"id": %d, "name": "%s"}\n' % (i, rnd.choice(words)))
os.makedirs(os.path.join(root, "lib"), exist_ok=True)
for i in range(4):
    with open(os.path.join(root, "lib", "app%d.jar" % i), "wb") as f:
        f.write(os.urandom(12 * 1024 * 1024))
os.makedirs(os.path.join(root, "links"), exist_ok=True)
for i in range(200):
    os.link(os.path.join(root, "src", "m%03d" % (i % 400), "f%05d.txt" % i), os.path.join(root, "links", "h%03d" % i))
    os.symlink("../src/m%03d/f%05d.txt" % (i % 400, i), os.path.join(root, "links", "s%03d" % i))
PY
    touch "$work/source.done"
  fi
fi

if [ ! -f "$work/layer.tar" ] || [ "$work/layer.tar" -ot "$source" ]; then
  echo "packing the layer ..." >&2
  tar --numeric-owner --xattrs --xattrs-include='*' -C "$source" -cf "$work/layer.tar" .
  gzip -6 -c "$work/layer.tar" > "$work/layer.tar.gz"
  zstd -q -3 -f "$work/layer.tar" -o "$work/layer.tar.zst"
fi
size=$(stat -c %s "$work/layer.tar")
entries=$(tar -tf "$work/layer.tar" | wc -l)
# Warm the page cache for the inputs so both sides read them from memory.
cat "$work"/layer.tar* > /dev/null

mnt="$work/mnt"
img="$work/fs.img"
fresh_fs() {
  umount "$mnt" 2>/dev/null || true
  rm -f "$img"
  truncate -s 8G "$img"
  mkfs.ext4 -q -F "$img"
  mkdir -p "$mnt"
  mount -o loop "$img" "$mnt"
  mkdir "$mnt/out"
}
cleanup() { umount "$mnt" 2>/dev/null || true; rm -f "$img"; }
trap cleanup EXIT

# One timed run: prints "wall cpu rss_kb"
timed() {
  local tf
  tf=$(mktemp)
  /usr/bin/time -f '%e %U %S %M' -o "$tf" bash -c "$1 && sync" >/dev/null
  awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$tf"
  rm -f "$tf"
}

declare -A cmd
cmd[lamina-tar]="$lamina layer apply $mnt/out $work/layer.tar"
cmd[gnutar-tar]="tar -x --same-owner --xattrs --xattrs-include='*' --numeric-owner -f $work/layer.tar -C $mnt/out"
cmd[lamina-gzip]="$lamina layer apply $mnt/out $work/layer.tar.gz"
cmd[gnutar-gzip]="gzip -dc $work/layer.tar.gz | tar -x --same-owner --xattrs --xattrs-include='*' --numeric-owner -C $mnt/out"
cmd[lamina-zstd]="$lamina layer apply $mnt/out $work/layer.tar.zst"
cmd[gnutar-zstd]="zstd -dc $work/layer.tar.zst | tar -x --same-owner --xattrs --xattrs-include='*' --numeric-owner -C $mnt/out"

results="$work/results.txt"
: > "$results"
for format in tar gzip zstd; do
  for i in $(seq 0 "$runs"); do
    for side in lamina gnutar; do
      fresh_fs
      r=$(timed "${cmd[$side-$format]}")
      [ "$i" = 0 ] || echo "$side $format $r" >> "$results"
    done
  done
done

echo
printf 'layer: %s bytes uncompressed, %s entries; gzip %s bytes, zstd %s bytes; %s runs each, fresh ext4 per run, sync included\n' \
  "$size" "$entries" "$(stat -c %s "$work/layer.tar.gz")" "$(stat -c %s "$work/layer.tar.zst")" "$runs"
printf '%-8s %-6s %10s %14s %10s %10s %10s\n' side format "wall(med)" "wall(min-max)" "MB/s" "files/s" "cpu(med)" 
for format in tar gzip zstd; do
  for side in lamina gnutar; do
    grep "^$side $format " "$results" | gawk -v size="$size" -v entries="$entries" -v side="$side" -v format="$format" '
      { w[NR]=$3; c[NR]=$4; r[NR]=$5 }
      END {
        n=asort(w); asort(c); asort(r)
        med = (n % 2) ? w[(n+1)/2] : (w[n/2] + w[n/2+1]) / 2
        cmed = (n % 2) ? c[(n+1)/2] : (c[n/2] + c[n/2+1]) / 2
        printf "%-8s %-6s %9.2fs %6.2f-%-6.2f %10.0f %10.0f %9.2fs  peak RSS %d MB\n", side, format, med, w[1], w[n], size/1e6/med, entries/med, cmed, r[n]/1024
      }'
  done
done
