#!/usr/bin/env bash
# The CRI validation suite of cri-tools (critest) against two nodes, one after the other, with the
# outcomes side by side (as root; e2e CriValidationBench):
# - A: image endpoint on lamina's CRI socket, runtime endpoint on containerd 1.6 with snapshotter
#   lamina (lamina registering the images it pulls into containerd);
# - B: containerd serving both endpoints with its own overlayfs snapshotter.
# There is no network: stand-ins for the specs' images (busybox, nginx, httpd, nonewprivs, the
# Image Manager and user/group test images) are built with umoci from the host's static busybox,
# pushed to a local docker-registry under their upstream paths, and registry.k8s.io and gcr.io are
# mirrored to it through hosts.toml. The spec pulling an image by its upstream digest is skipped.
# Each node gets its own containerd, lamina and CNI bridge under WORK; JUnit reports and critest
# output are WORK/junit-{A,B}.xml and WORK/critest-{A,B}.log, node logs WORK/node-{a,b}/.
#
# critest is not packaged by Debian: build it from kubernetes-sigs/cri-tools (v1.26.x works with
# containerd 1.6): make critest, or go build ./cmd/critest.
#
# Usage: bench/critest.sh [--critest PATH] [--work DIR] [--focus RE] [--skip RE] [--timeout MIN]
# Needs: the jar and the e2e test classes (mvn -q -DskipTests install, or package + test-compile)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/e2e-main.sh"
critest=""
work=""
focus=""
skip=""
timeout=40
usage="usage: $0 [--critest PATH] [--work DIR] [--focus RE] [--skip RE] [--timeout MINUTES]"
while [ $# -gt 0 ]; do
  case "$1" in
    --critest) critest="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --focus) focus="$2"; shift 2 ;;
    --skip) skip="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
if [ -z "$critest" ]; then
  critest="$(command -v critest || true)"
fi
if [ -z "$critest" ] || [ ! -x "$critest" ]; then
  echo "$0: critest not found${critest:+ at $critest}; it is not packaged by Debian: build it from" \
    "https://github.com/kubernetes-sigs/cri-tools (v1.26.x for containerd 1.6: git checkout v1.26.1 &&" \
    "make critest, the binary is in build/bin/) and pass --critest PATH or put it on PATH" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "$0: needs root (containerd, runc, CNI)" >&2
  exit 1
fi
e2e_main_check dev.lamina.e2e.CriValidationBench
if [ -z "$work" ]; then
  work="$(mktemp -d /tmp/lamina-critest.XXXXXX)"
  echo "work dir: $work (kept)"
fi
mkdir -p "$work"
e2e_main "$work" dev.lamina.e2e.CriValidationBench "$work" "$critest" "$focus" "$skip" "$timeout"
