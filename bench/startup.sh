#!/usr/bin/env bash
# Time from `lamina serve` to both sockets accepting connections, and resident memory then,
# median (min-max) of RUNS starts on fresh roots, through bin/lamina (its JDK choice and class
# cache, trained by one untimed start and clean stop first).
#
# Usage: bench/startup.sh [--runs N] [--jar JAR]... [--java-home DIR]...
#   Several --jar (for example a jar built from an older commit) and --java-home are measured
#   side by side, every combination, in turn within each round.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=5
jars=()
homes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --jar) jars+=("$(readlink -f "$2")"); shift 2 ;;
    --java-home) homes+=("$2"); shift 2 ;;
    *) echo "usage: $0 [--runs N] [--jar JAR]... [--java-home DIR]..." >&2; exit 2 ;;
  esac
done
[ ${#jars[@]} -gt 0 ] || jars=("$top/image-service/target/lamina.jar")
[ ${#homes[@]} -gt 0 ] || homes=("")
work="$(mktemp -d /tmp/lamina-startup.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# One start: prints "<ms to ready> <RSS kB at ready>", then stops it with SIGTERM.
declare -A standalone
for jar in "${jars[@]}"; do
  # jars built before the containerd link have no --containerd-address
  if java -jar "$jar" serve --help 2>/dev/null | grep -q -- --containerd-address; then
    standalone[$jar]="--containerd-address="
  else
    standalone[$jar]=""
  fi
done

start_once() { # jar java_home cache_dir
  local d; d="$(mktemp -d "$work/run.XXXX")"
  local t0 t1 pid rss
  t0=$(date +%s%N)
  LAMINA_JAR="$1" JAVA_HOME="$2" LAMINA_CACHE_DIR="$3" "$top/bin/lamina" serve --root "$d/root" \
    --socket "$d/cri.sock" --snapshotter-socket "$d/snap.sock" ${standalone[$1]} >"$d/log" 2>&1 &
  pid=$!
  while [ ! -S "$d/cri.sock" ] || [ ! -S "$d/snap.sock" ]; do
    kill -0 "$pid" 2>/dev/null || { echo "lamina exited; log:" >&2; cat "$d/log" >&2; return 1; }
    sleep 0.005
  done
  t1=$(date +%s%N)
  rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$d"
  echo "$(( (t1 - t0) / 1000000 )) $rss"
}

stats() { sort -n | awk '{a[NR]=$1} END {printf "%d (%d-%d)", a[int((NR+1)/2)], a[1], a[NR]}'; }

declare -A ready rss
for jar in "${jars[@]}"; do
  for home in "${homes[@]}"; do
    key="$jar|$home"
    cache="$work/cache-$(echo "$key" | md5sum | cut -c1-8)"
    mkdir -p "$cache"
    start_once "$jar" "$home" "$cache" >/dev/null # trains the class cache (written at the clean stop)
    ready[$key]=""; rss[$key]=""
  done
done
for i in $(seq 1 "$runs"); do
  for jar in "${jars[@]}"; do
    for home in "${homes[@]}"; do
      key="$jar|$home"
      cache="$work/cache-$(echo "$key" | md5sum | cut -c1-8)"
      read -r ms kb < <(start_once "$jar" "$home" "$cache")
      ready[$key]+="$ms "; rss[$key]+="$kb "
    done
  done
done
printf "%-60s %-24s %s\n" "jar | JAVA_HOME" "ready ms" "RSS at ready, MB"
for key in "${!ready[@]}"; do
  r=$(echo "${ready[$key]}" | tr ' ' '\n' | grep . | stats)
  m=$(echo "${rss[$key]}" | tr ' ' '\n' | grep . | awk '{print int($1/1024)}' | stats)
  printf "%-60s %-24s %s\n" "$key" "$r" "$m"
done
