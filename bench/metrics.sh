#!/usr/bin/env bash
# What lamina's metrics cost, in one run (as root; e2e MetricsBench):
# - scrape latency of /metrics with N active container snapshots (default 500), each labelled by a
#   pod from fabric8's mock API server, once the size sweep has measured them all;
# - idle resident memory with the metrics on and off, alternating.
#
# Usage: bench/metrics.sh [--containers N] [--scrapes N] [--rounds N] [--work DIR] [--java-home DIR]
#   --java-home: the JDK lamina serve runs on (default: the java on PATH)
# Needs: mvn -q -DskipTests install (the e2e test classes and their dependencies)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/e2e-main.sh"
containers=500 scrapes=200 rounds=3 work="" java=java
while [ $# -gt 0 ]; do
  case "$1" in
    --containers) containers="$2"; shift 2 ;;
    --scrapes) scrapes="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --java-home) java="$2/bin/java"; shift 2 ;;
    *) echo "usage: $0 [--containers N] [--scrapes N] [--rounds N] [--work DIR] [--java-home DIR]" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "$0: needs root (the overlay snapshotter mounts)" >&2
  exit 1
fi
e2e_main_check dev.lamina.e2e.MetricsBench
if [ -z "$work" ]; then
  work="$(mktemp -d /tmp/lamina-metrics.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
fi
JAVA="$java" e2e_main "$work" dev.lamina.e2e.MetricsBench "$work" "$containers" "$scrapes" "$rounds"
