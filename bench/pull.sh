#!/usr/bin/env bash
# Benchmarks a cold pull (fetch + unpack + final sync) of the reference image: lamina against
# containerd's `ctr images pull`, side by side, in one run.
#
# Method (shared/BENCHMARKING.md): the reference image is built once and pushed to Debian's
# docker-registry on 127.0.0.1, gzip and zstd variants. Every run gets a freshly formatted ext4 on
# a loop device for the client's root; lamina and containerd alternate (one warm-up each, then
# RUNS counted; lamina runs through bin/lamina, as an operator runs it); the registry's blobs are
# read once beforehand so the page cache serves them. In the same rounds, the floor: GNU tar -x of
# the same layers, uncompressed and in the page cache, one after another into one directory, then
# the same final sync.
# lamina is measured twice: right after its start, and on a daemon that has already pulled another
# image (lamina-2nd: a node that has been up a while).
# Reports median and min-max wall seconds, CPU seconds of the daemon during the pull, its peak RSS during
# the pull (and over its whole life, start-up included), and lamina's medians against containerd's
# and against the floor.
#
# --disk-mbps N caps writes to each run's loop device at N MB/s (cgroup v1 blkio throttle, which
# also holds back the kernel's writeback), to see a node whose disk, not its CPUs, is the limit.
#
# Usage: sudo bench/pull.sh [--runs N] [--work DIR] [--formats "gzip zstd"] [--disk-mbps N] [--build-only]
# Needs: debootstrap, umoci, skopeo, docker-registry, containerd (ctr), python3, e2fsprogs, time;
# isal (igzip), which lamina uses for gzip layers when installed, as containerd uses pigz's unpigz.
set -euo pipefail
runs=5
work=/var/tmp/lamina-pull-bench
formats="gzip zstd"
build_only=false
disk_mbps=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --formats) formats="$2"; shift 2 ;;
    --build-only) build_only=true; shift ;;
    --disk-mbps) disk_mbps="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
top="$(cd "$(dirname "$0")/.." && pwd)"
jar="$top/image-service/target/lamina.jar"
[ "$(id -u)" = 0 ] || { echo "bench needs root" >&2; exit 1; }
throttle=/sys/fs/cgroup/blkio/blkio.throttle.write_bps_device
if [ -n "$disk_mbps" ] && [ ! -w "$throttle" ]; then
  echo "--disk-mbps needs the cgroup v1 blkio controller ($throttle is missing)" >&2; exit 1
fi
for tool in debootstrap umoci skopeo docker-registry containerd ctr mkfs.ext4 python3 gawk bc curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
mkdir -p "$work"
export LC_ALL=C.UTF-8

# ---------------------------------------------------------------- the reference image, built once
image="$work/image"
if [ ! -f "$work/image.done" ]; then
  rm -rf "$image" "$work/bundle"
  umoci init --layout "$image"
  umoci new --image "$image:ref"
  umoci unpack --image "$image:ref" "$work/bundle"
  rootfs="$work/bundle/rootfs"
  echo "layer 1: debootstrap minbase" >&2
  debootstrap --variant=minbase bookworm "$rootfs" >/dev/null
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*
  umoci repack --refresh-bundle --image "$image:ref" "$work/bundle"
  echo "layer 2: openjdk-17-jre-headless python3" >&2
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  # The JRE's post-install needs /proc.
  mount -t proc proc "$rootfs/proc"
  status=0
  chroot "$rootfs" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless python3 >/dev/null' || status=$?
  umount "$rootfs/proc"
  [ "$status" = 0 ] || { echo "installing the JRE in the chroot failed" >&2; exit 1; }
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*
  umoci repack --refresh-bundle --image "$image:ref" "$work/bundle"
  echo "layer 3: application files" >&2
  python3 - "$rootfs/app" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(7)
words = ["w%05d" % i for i in range(5000)]
for i in range(20000):
    d = os.path.join(root, "src", "m%03d" % (i % 400)); os.makedirs(d, exist_ok=True)
    size = rnd.randint(100, 16 * 1024); text = []; n = 0
    while n < size:
        w = rnd.choice(words); text.append(w); n += len(w) + 1
    open(os.path.join(d, "f%05d.txt" % i), "w").write(" ".join(text)[:size])
for i in range(3000):
    d = os.path.join(root, "conf", "c%02d" % (i % 60)); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "c%04d.json" % i), "w").write('{"id": %d}\n' % i)
os.makedirs(os.path.join(root, "lib"), exist_ok=True)
for i in range(4):
    open(os.path.join(root, "lib", "app%d.jar" % i), "wb").write(os.urandom(12 << 20))
os.makedirs(os.path.join(root, "links"), exist_ok=True)
for i in range(200):
    os.link(os.path.join(root, "src", "m%03d" % (i % 400), "f%05d.txt" % i), os.path.join(root, "links", "h%03d" % i))
    os.symlink("../src/m%03d/f%05d.txt" % (i % 400, i), os.path.join(root, "links", "s%03d" % i))
PY
  umoci repack --refresh-bundle --image "$image:ref" "$work/bundle"
  echo "layer 4: whiteouts (hand-written tar)" >&2
  python3 - "$rootfs" "$work/layer4.tar" <<'PY'
import io, os, sys, tarfile
rootfs, out = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    def add_dir(name):
        ti = tarfile.TarInfo(name); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
    def add_file(name, data=b""):
        ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = 0o644; t.addfile(ti, io.BytesIO(data))
    add_dir("usr"); add_dir("usr/share"); add_dir("usr/share/doc")
    add_file("usr/share/doc/.wh..wh..opq"); add_file("usr/share/doc/README", b"docs moved\n")
    add_file("usr/share/.wh.man")
    add_dir("app"); add_dir("app/src")
    n = 0
    for m in sorted(os.listdir(os.path.join(rootfs, "app/src"))):
        add_dir("app/src/" + m)
        for f in sorted(os.listdir(os.path.join(rootfs, "app/src", m)))[:5]:
            add_file("app/src/%s/.wh.%s" % (m, f)); n += 1
            if n >= 2000: break
        if n >= 2000: break
    add_dir("app/lib"); add_file("app/lib/.wh.app3.jar")
PY
  umoci raw add-layer --image "$image:ref" "$work/layer4.tar"
  rm -rf "$work/bundle"
  umoci unpack --image "$image:ref" "$work/bundle"
  echo "tiny" > "$work/bundle/rootfs/etc/bench-release"
  umoci repack --refresh-bundle --image "$image:ref" "$work/bundle"
  rm -rf "$work/bundle"
  touch "$work/image.done"
fi

$build_only && { echo "reference image built in $image"; exit 0; }

# the image's layers, uncompressed, for the tar floor
layers="$work/layers"
if [ ! -f "$layers/done" ]; then
  rm -rf "$layers"; mkdir -p "$layers"
  python3 - "$image" "$layers" <<'PY'
import gzip, json, os, shutil, sys
image, out = sys.argv[1], sys.argv[2]
def blob(d):
    return os.path.join(image, "blobs", *d.split(":"))
index = json.load(open(os.path.join(image, "index.json")))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
for i, layer in enumerate(manifest["layers"], 1):
    with gzip.open(blob(layer["digest"])) as src, open(os.path.join(out, "%d.tar" % i), "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
  touch "$layers/done"
fi

# another image, which a daemon pulls first in the "after another image" runs: two layers of its own
# (5,000 small files, then 16 MiB of random data), so that it shares nothing with the reference
other="$work/other"
if [ ! -f "$work/other.done" ]; then
  rm -rf "$other" "$work/other-bundle"
  umoci init --layout "$other"
  umoci new --image "$other:other"
  umoci unpack --image "$other:other" "$work/other-bundle"
  python3 - "$work/other-bundle/rootfs" <<'PY'
import os, random, sys
root = sys.argv[1]; r = random.Random(7)
for i in range(5000):
    d = os.path.join(root, "srv", "d%02d" % (i % 50)); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "f%04d.txt" % i), "w").write("x" * r.randint(100, 4000))
PY
  umoci repack --image "$other:other" "$work/other-bundle"
  head -c 16777216 /dev/urandom > "$work/other-bundle/rootfs/srv/blob.bin"
  umoci repack --image "$other:other" "$work/other-bundle"
  rm -rf "$work/other-bundle"
  touch "$work/other.done"
fi

# ---------------------------------------------------------------- registry on loopback
[ -f "$jar" ] || { echo "build first: mvn -q -DskipTests package" >&2; exit 1; }
regdir="$work/registry"
mkdir -p "$regdir/data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$regdir/config.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $regdir/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$regdir/config.yml" > "$regdir/log" 2>&1 &
regpid=$!
mnt="$work/mnt"
img="$work/fs.img"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$regpid" 2>/dev/null || true
  sleep 1
  grep " $mnt" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  umount "$mnt" 2>/dev/null || true
  rm -f "$img"
  unthrottle
}
# (runs happen in subshells: the throttled device is kept in a file)
unthrottle() {
  [ -f "$work/throttled" ] && echo "$(cat "$work/throttled") 0" > "$throttle"
  rm -f "$work/throttled"
}
trap cleanup EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
skopeo copy -q --dest-tls-verify=false "oci:$image:ref" "docker://127.0.0.1:$port/bench/ref:gzip"
skopeo copy -q --dest-tls-verify=false --dest-compress-format zstd --dest-compress "oci:$image:ref" \
  "docker://127.0.0.1:$port/bench/ref:zstd"
skopeo copy -q --dest-tls-verify=false "oci:$other:other" "docker://127.0.0.1:$port/bench/other:gzip"
skopeo copy -q --dest-tls-verify=false --dest-compress-format zstd --dest-compress "oci:$other:other" \
  "docker://127.0.0.1:$port/bench/other:zstd"
find "$regdir/data" -type f -exec cat {} + > /dev/null
# lamina reaches the loopback registry over plain http as containerd's --plain-http does: through
# a hosts.toml, the way an operator configures it.
hosts="$work/hosts"
mkdir -p "$hosts/127.0.0.1:$port"
echo "server = \"http://127.0.0.1:$port\"" > "$hosts/127.0.0.1:$port/hosts.toml"

fresh_fs() {
  grep " $mnt" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  umount "$mnt" 2>/dev/null || true
  rm -f "$img"; truncate -s 8G "$img"; mkfs.ext4 -q -F "$img"
  mkdir -p "$mnt"; mount -o loop "$img" "$mnt"
  if [ -n "$disk_mbps" ]; then
    unthrottle
    lsblk -dno MAJ:MIN "$(findmnt -n -o SOURCE "$mnt")" | tr -d ' ' > "$work/throttled"
    echo "$(cat "$work/throttled") $((disk_mbps * 1000000))" > "$throttle"
  fi
}
wait_socket() { for _ in $(seq 1200); do [ -S "$1" ] && return 0; sleep 0.05; done; echo "no socket $1" >&2; return 1; }
cpu_of() { awk '{print ($14 + $15 + $16 + $17) / 100}' "/proc/$1/stat"; }
rss_of() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
# The target is the peak during the pull: the high-water mark restarts from the resident size now
# (a daemon's start-up has its own peak, reported beside it).
reset_peak() { echo 5 > "/proc/$1/clear_refs"; }

run_lamina() { # format [after] -> "wall cpu rss"; with "after", the daemon pulls another image first
  fresh_fs
  # standalone: the pull alone, as ctr's (bench/cri-node.sh measures registering in containerd)
  "$top/bin/lamina" serve --root "$mnt/lamina" --socket "$mnt/lamina.sock" --registry-config-dir "$hosts" \
    --snapshotter-socket "$mnt/snap.sock" --containerd-address "" > "$work/lamina-serve.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  wait_socket "$mnt/lamina.sock"
  if [ "${2:-}" = after ]; then
    "$top/bin/lamina" pull --socket "$mnt/lamina.sock" "127.0.0.1:$port/bench/other:$1" > /dev/null
    sync
  fi
  local c0 t0 t1 c1 life
  life=$(rss_of "$pid"); reset_peak "$pid"
  c0=$(cpu_of "$pid"); t0=$(date +%s.%N)
  "$top/bin/lamina" pull --socket "$mnt/lamina.sock" "127.0.0.1:$port/bench/ref:$1" > /dev/null
  sync
  t1=$(date +%s.%N); c1=$(cpu_of "$pid")
  echo "$(echo "$t1 - $t0" | bc) $(echo "$c1 - $c0" | bc) $(rss_of "$pid") $life"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_containerd() {
  fresh_fs
  cat > "$mnt/containerd.toml" <<TOML
version = 2
root = "$mnt/containerd/root"
state = "$mnt/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$mnt/containerd.sock"
TOML
  containerd --config "$mnt/containerd.toml" > "$work/containerd.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  wait_socket "$mnt/containerd.sock"
  local c0 t0 t1 c1 life
  life=$(rss_of "$pid"); reset_peak "$pid"
  c0=$(cpu_of "$pid"); t0=$(date +%s.%N)
  ctr -a "$mnt/containerd.sock" images pull --plain-http "127.0.0.1:$port/bench/ref:$1" > /dev/null
  sync
  t1=$(date +%s.%N); c1=$(cpu_of "$pid")
  echo "$(echo "$t1 - $t0" | bc) $(echo "$c1 - $c0" | bc) $(rss_of "$pid") $((life > $(rss_of "$pid") ? life : $(rss_of "$pid")))"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_tar() { # -> "wall 0 0"
  fresh_fs
  mkdir "$mnt/rootfs"
  cat "$layers"/*.tar > /dev/null
  local t0 t1 f
  t0=$(date +%s.%N)
  for f in $(ls "$layers"/*.tar | sort -V); do
    tar --numeric-owner --xattrs --xattrs-include='*' -xf "$f" -C "$mnt/rootfs"
  done
  sync
  t1=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc) 0 0 0"
}

results="$work/results.txt"; : > "$results"
for format in $formats; do
  for i in $(seq 0 "$runs"); do
    r=$(run_lamina "$format"); [ "$i" = 0 ] || echo "lamina $format $r" >> "$results"
    r=$(run_lamina "$format" after); [ "$i" = 0 ] || echo "lamina-2nd $format $r" >> "$results"
    r=$(run_containerd "$format"); [ "$i" = 0 ] || echo "containerd $format $r" >> "$results"
    r=$(run_tar); [ "$i" = 0 ] || echo "tar+sync $format $r" >> "$results"
  done
done

# peak RSS: the highest of the runs, during the pull and over the process's life
printf '\n%-11s %-5s %10s %15s %10s %16s %16s\n' side fmt "wall(med)" "wall(min-max)" "cpu(med)" "peak RSS (pull)" "(lifetime)"
for format in $formats; do
  for side in lamina lamina-2nd containerd tar+sync; do
    grep "^$side $format " "$results" | gawk -v side="$side" -v fmt="$format" '
      { w[NR]=$3; c[NR]=$4; r[NR]=$5; l[NR]=$6 }
      END { n=asort(w); asort(c); asort(r); asort(l)
        med=(n%2)?w[(n+1)/2]:(w[n/2]+w[n/2+1])/2; cm=(n%2)?c[(n+1)/2]:(c[n/2]+c[n/2+1])/2
        printf "%-11s %-5s %9.2fs %7.2f-%-7.2f %9.2fs %13d MB %13d MB\n", side, fmt, med, w[1], w[n], cm, r[n]/1024, l[n]/1024 }'
  done
done

echo
[ -z "$disk_mbps" ] || echo "writes to each run's disk capped at $disk_mbps MB/s"
echo "lamina: $(grep -m1 -o 'gzip layers are inflated by .*' "$work/lamina-serve.log" || echo 'gzip inflater not logged')"
echo "containerd: $(command -v unpigz >/dev/null && echo 'unpigz on PATH (containerd inflates gzip with it)' || echo 'no unpigz: Go inflates gzip')"

median() { grep "^$1 $2 " "$results" | awk '{print $3}' | sort -n | awk '{v[NR]=$1} END {print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
echo
for format in $formats; do
  l=$(median lamina "$format"); l2=$(median lamina-2nd "$format")
  c=$(median containerd "$format"); t=$(median tar+sync "$format")
  printf '%-5s right after start: lamina / containerd = %.2f (target <= 0.5)\n' "$format" "$(echo "$l / $c" | bc -l)"
  printf '%-5s after another image: lamina / containerd = %.2f (target <= 0.4), lamina / (tar -x + sync) = %.2f (target <= 1.3)\n' \
    "$format" "$(echo "$l2 / $c" | bc -l)" "$(echo "$l2 / $t" | bc -l)"
done
