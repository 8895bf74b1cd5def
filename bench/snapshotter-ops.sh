#!/usr/bin/env bash
# Snapshot operation latency through containerd: lamina as a proxy snapshotter against
# containerd's own overlayfs snapshotter, side by side, in one run.
#
# Starts `lamina serve` (overlay) and a private containerd (config like the e2e ContainerdHarness:
# root/state/sockets in a temp dir, CRI disabled, [proxy_plugins.lamina]), then for each
# snapshotter, with `ctr snapshots --snapshotter S`:
#   - prepare + commit of a CHAIN-layer chain (nothing written into the layers), timed per call;
#   - the chain extended to DEPTH layers (untimed), then VIEWS x (view + mounts) of the top layer;
#   - ctr's own start cost: VIEWS x `ctr version` (same for both; subtract it to see the RPC cost).
# Per-call wall time is taken with bash's $EPOCHREALTIME around each ctr process.
# A third proxy snapshotter, "noop" (bench/proxy-floor.c, built here with cc when there is one),
# answers every call at once without doing anything: its column is the cost of containerd's proxy
# hop alone, the least any snapshotter served through proxy_plugins can take.
# Then, unless --no-grpc, the same operations from one long-lived Java gRPC client
# (e2e ContainerdSnapshotterBench): lamina's socket directly, containerd with lamina, containerd
# with overlayfs, so no process start is in those figures.
#
# Both snapshotters keep their state on one freshly formatted ext4 (a loop device mounted on the
# work directory, as shared/BENCHMARKING.md asks of every run: a journaled filesystem, like a
# node's /var/lib); --no-fresh-fs runs on whatever filesystem the work directory is on.
#
# --warm N first makes N untimed prepare/commit/view/mounts rounds through containerd on every
# snapshotter (on a chain of their own), so the timed calls find the daemons past their first
# calls; 0 (the default) times the calls right after start.
#
# Usage: bench/snapshotter-ops.sh [--chain N] [--depth N] [--views N] [--warm N] [--work DIR] [--no-grpc] [--no-fresh-fs]
# Needs root, containerd + ctr, overlayfs, java 17, and the build: mvn -q install -DskipTests
# (image-service/target/lamina.jar; e2e/target/test-classes for the gRPC part:
#  mvn -q -pl e2e test-compile).
set -euo pipefail
chain=100
depth=128
views=50
warm=0
work=""
grpc=1
fresh=1
while [ $# -gt 0 ]; do
  case "$1" in
    --chain) chain="$2"; shift 2 ;;
    --depth) depth="$2"; shift 2 ;;
    --views) views="$2"; shift 2 ;;
    --warm) warm="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --no-grpc) grpc=0; shift ;;
    --no-fresh-fs) fresh=0; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ "$depth" -ge "$chain" ] || { echo "--depth must be >= --chain" >&2; exit 2; }
top="$(cd "$(dirname "$0")/.." && pwd)"
jar="${LAMINA_JAR:-$top/image-service/target/lamina.jar}"
classes="$top/e2e/target/test-classes"
[ "$(id -u)" = 0 ] || { echo "needs root (overlay mounts, containerd)" >&2; exit 1; }
command -v containerd >/dev/null && command -v ctr >/dev/null || { echo "needs containerd and ctr" >&2; exit 1; }
[ -f "$jar" ] || { echo "$jar missing: (cd $top && mvn -q install -DskipTests)" >&2; exit 1; }
if [ "$grpc" = 1 ] && [ ! -f "$classes/dev/lamina/e2e/ContainerdSnapshotterBench.class" ]; then
  echo "$classes has no ContainerdSnapshotterBench: (cd $top && mvn -q -pl e2e test-compile), or --no-grpc" >&2
  exit 1
fi

[ -n "$work" ] || work="$(mktemp -d /tmp/lamina-snapbench.XXXXXX)"
mkdir -p "$work"
lamina_pid=""
containerd_pid=""
cleanup() {
  set +e
  [ -n "$containerd_pid" ] && kill "$containerd_pid" 2>/dev/null && wait "$containerd_pid" 2>/dev/null
  [ -n "$lamina_pid" ] && kill "$lamina_pid" 2>/dev/null && wait "$lamina_pid" 2>/dev/null
  [ -n "${floor_pid:-}" ] && kill "$floor_pid" 2>/dev/null && wait "$floor_pid" 2>/dev/null
  # anything still mounted under the work dir, deepest first
  awk -v d="$work" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  # (that loop unmounts the fresh filesystem on the work dir too)
  [ -n "${fs_img:-}" ] && rm -f "$fs_img"
  if [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work" >&2; fi
}
trap cleanup EXIT
fs_img=""
if [ "$fresh" = 1 ]; then
  fs_img="$(mktemp /var/tmp/lamina-snapbench-fs.XXXXXX)"
  truncate -s 8G "$fs_img"
  mkfs.ext4 -q -F "$fs_img"
  mount -o loop "$fs_img" "$work"
fi

# ---------------------------------------------------------------- daemons
LAMINA_JAR="$jar" "$top/bin/lamina" serve --root "$work/lamina-root" --snapshotter-socket "$work/lamina.sock" \
  --socket "$work/lamina-cri.sock" --snapshotter overlay >"$work/lamina.log" 2>&1 &
lamina_pid=$!
# lamina first: containerd dials its proxy lazily, but a first dial that fails puts the connection
# into back-off (up to 3 s), and calls fail meanwhile
for _ in $(seq 900); do
  [ -S "$work/lamina.sock" ] && break
  kill -0 "$lamina_pid" 2>/dev/null || { cat "$work/lamina.log" >&2; exit 1; }
  sleep 0.1
done
[ -S "$work/lamina.sock" ] || { echo "lamina did not open its socket" >&2; cat "$work/lamina.log" >&2; exit 1; }
sns="overlayfs lamina"
floor_pid=""
if command -v cc >/dev/null && cc -O2 -o "$work/proxy-floor" "$top/bench/proxy-floor.c"; then
  "$work/proxy-floor" "$work/noop.sock" "$work/lamina-root" "$depth" >"$work/proxy-floor.log" 2>&1 &
  floor_pid=$!
  for _ in $(seq 100); do [ -S "$work/noop.sock" ] && break; sleep 0.05; done
  sns="overlayfs lamina noop"
else
  echo "no C compiler: the noop proxy column is left out" >&2
fi
cat >"$work/containerd.toml" <<EOF
version = 2
root = "$work/containerd-root"
state = "$work/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/containerd-opt"
[proxy_plugins.lamina]
  type = "snapshot"
  address = "$work/lamina.sock"
[proxy_plugins.noop]
  type = "snapshot"
  address = "$work/noop.sock"
# \`ctr snapshots view\` sets no containerd.io/gc.root label, so a collection (by default after
# every 100 mutations) would take the views mid-run; collect only on deletions here.
[plugins."io.containerd.gc.v1.scheduler"]
  mutation_threshold = 1000000
EOF
containerd --config "$work/containerd.toml" >"$work/containerd.log" 2>&1 &
containerd_pid=$!
for _ in $(seq 600); do
  [ -S "$work/containerd.sock" ] && break
  kill -0 "$containerd_pid" 2>/dev/null || { cat "$work/containerd.log" >&2; exit 1; }
  sleep 0.1
done
C() { ctr -a "$work/containerd.sock" -n bench "$@"; }
C version >/dev/null

# ---------------------------------------------------------------- timing helpers
# t_run FILE CMD...: runs CMD (output discarded) and appends its wall time in microseconds to FILE
t_run() {
  local file="$1"; shift
  local s="$EPOCHREALTIME"
  "$@" >/dev/null
  local e="$EPOCHREALTIME"
  echo $(( (${e/./} - ${s/./}) )) >>"$file"
}
# stats FILE: "median (p90)" in ms
stats() {
  [ -s "$1" ] || { echo "-"; return; }
  sort -n "$1" | awk '{v[NR]=$1} END {
    if (NR == 0) { print "-"; exit }
    m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.9 + 0.999)]; if (p == "") p = v[NR];
    printf "%.2f (%.2f)", m / 1000, p / 1000 }'
}

# All snapshotters in one loop, alternating call by call, so load from elsewhere on the machine
# falls on all alike.
run_ctr() {
  local sn
  mkdir -p "$work/mnt"
  for sn in $sns; do mkdir -p "$work/times-$sn"; done
  for i in $(seq 1 "$depth"); do
    local parent=""
    [ "$i" -gt 1 ] && parent="c$((i - 1))"
    for sn in $sns; do
      if [ "$i" -le "$chain" ]; then
        t_run "$work/times-$sn/prepare" C snapshots --snapshotter "$sn" prepare "a$i" $parent
        t_run "$work/times-$sn/commit" C snapshots --snapshotter "$sn" commit "c$i" "a$i"
      else
        C snapshots --snapshotter "$sn" prepare "a$i" $parent >/dev/null
        C snapshots --snapshotter "$sn" commit "c$i" "a$i" >/dev/null
      fi
    done
  done
  for j in $(seq 1 "$views"); do
    for sn in $sns; do
      t_run "$work/times-$sn/view" C snapshots --snapshotter "$sn" view "v$j" "c$depth"
      t_run "$work/times-$sn/mounts" C snapshots --snapshotter "$sn" mounts "$work/mnt" "v$j"
      t_run "$work/times-$sn/ctr-version" C version
    done
  done
  local lowers
  for sn in overlayfs lamina; do
    # sanity: the deepest view lists every layer
    lowers=$(C snapshots --snapshotter "$sn" mounts "$work/mnt" "v$views" | tr ':' '\n' | wc -l)
    echo "$sn: mounts of the view name $lowers lowerdirs" >&2
  done
  for sn in overlayfs lamina; do
    # (deletions start containerd's collector, which may take the unlabelled views first; the noop
    # proxy is left alone: it has nothing to delete)
    for j in $(seq 1 "$views"); do C snapshots --snapshotter "$sn" rm "v$j" 2>/dev/null || true; done
    for i in $(seq "$depth" -1 1); do C snapshots --snapshotter "$sn" rm "c$i" 2>/dev/null || true; done
  done
}

# untimed rounds on a chain named w*, removed again before the timed run
if [ "$warm" -gt 0 ]; then
  for i in $(seq 1 "$warm"); do
    for sn in $sns; do
      parent=""
      [ "$i" -gt 1 ] && parent="wc$((i - 1))"
      C snapshots --snapshotter "$sn" prepare "wa$i" $parent >/dev/null
      C snapshots --snapshotter "$sn" commit "wc$i" "wa$i"
      C snapshots --snapshotter "$sn" view "wv$i" "wc$i" >/dev/null
      C snapshots --snapshotter "$sn" mounts "$work" "wv$i" >/dev/null
    done
  done
  for sn in overlayfs lamina; do
    for i in $(seq "$warm" -1 1); do
      C snapshots --snapshotter "$sn" rm "wv$i" 2>/dev/null || true
      C snapshots --snapshotter "$sn" rm "wc$i" 2>/dev/null || true
    done
  done
fi

echo "ctr timings: chain=$chain depth=$depth views=$views warm=$warm; lamina $(basename "$jar"), containerd $(containerd --version | awk '{print $3}')" >&2
run_ctr

printf '\nctr (one process per call), ms per call: median (p90)\n'
printf '%-22s %22s %22s %22s\n' operation lamina overlayfs "noop proxy"
for op in prepare commit view mounts ctr-version; do
  case "$op" in
    prepare|commit) label="$op (chain $chain)" ;;
    view|mounts) label="$op (depth $depth)" ;;
    *) label="ctr version (baseline)" ;;
  esac
  printf '%-22s %22s %22s %22s\n' "$label" "$(stats "$work/times-lamina/$op")" "$(stats "$work/times-overlayfs/$op")" \
    "$(stats "$work/times-noop/$op")"
done

if [ "$grpc" = 1 ]; then
  echo
  java -cp "$classes:$jar" dev.lamina.e2e.ContainerdSnapshotterBench \
    "$work/containerd.sock" "$work/lamina.sock" "$chain" "$depth" "$views"
  echo "(through containerd, remove only drops containerd's metadata; lamina and overlayfs delete in containerd's GC)"
fi
