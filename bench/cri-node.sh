#!/usr/bin/env bash
# lamina linked to containerd, measured in one run (as root; e2e CriNodeBench):
# - pull through lamina's CRI socket and the share of it that registering in containerd takes,
#   for a four-layer and a one-layer image, and for the reference image (shared/BENCHMARKING.md)
#   with --reference LAYOUT, the OCI layout bench/pull.sh --build-only leaves in
#   /var/tmp/lamina-pull-bench/image;
# - containerd CRI CreateContainer + StartContainer on the lamina-pulled image (snapshotter
#   lamina) against the same image pulled by containerd into its own overlayfs, alternating.
# Each node gets its own containerd, lamina and CNI bridge under WORK (a fresh directory).
#
# Usage: bench/cri-node.sh [--rounds N] [--work DIR] [--reference LAYOUT]
# Needs: mvn -q -DskipTests install
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/e2e-main.sh"
rounds=5
work=""
reference=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --reference) reference="$(realpath "$2")"; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--work DIR] [--reference LAYOUT]" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "$0: needs root (containerd, runc, CNI)" >&2
  exit 1
fi
e2e_main_check dev.lamina.e2e.CriNodeBench
if [ -n "$reference" ] && [ ! -f "$reference/index.json" ]; then
  echo "$0: $reference is not an OCI layout; make the reference image with: sudo bench/pull.sh --build-only" >&2
  exit 1
fi
if [ -z "$work" ]; then
  work="$(mktemp -d /tmp/lamina-cri-node.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
fi
e2e_main "$work" dev.lamina.e2e.CriNodeBench "$work" "$rounds" "$reference"
