#!/usr/bin/env bash
# Builds the base of lamina's container image from Debian packages, as an OCI layout (umoci) and
# as the `docker save` tarball Jib takes as a base image (skopeo):
#   layer 1  debootstrap --variant=minbase bookworm, plus what `lamina serve` runs at run time
#            (mount, igzip and unpigz, ca-certificates, curl for the chart's node setup)
#   layer 2  /opt/lamina/jre, a Java runtime jlinked from Debian's openjdk-17-jdk-headless, which
#            is installed in a second, throw-away root; the chart copies /opt/lamina to the host,
#            so the runtime must not lean on files outside it
# Apt's caches and lists, logs, and the files made at install time that differ between two runs
# are removed; every time stamp is clamped to SOURCE_DATE_EPOCH. Two runs with the same epoch and
# the same packages on the mirror give the same layers but for the runtime's class-data archive
# (lib/server/classes.jsa, see below).
#
# The result is kept: a run whose inputs (this script, the epoch, the mirror) match the ones of the
# base in OUT does nothing.
#
# Usage: SOURCE_DATE_EPOCH=... build-base.sh OUT
# Environment: BASE_MIRROR (http://deb.debian.org/debian), BASE_FORCE=1 rebuilds regardless.
set -euo pipefail

out="${1:?usage: build-base.sh OUT}"
epoch="${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH is required}"
mirror="${BASE_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
packages=(mount isal pigz ca-certificates curl)
jdk=openjdk-17-jdk-headless
jdk_home=/usr/lib/jvm/java-17-openjdk-amd64
# What lamina.jar needs (jdeps over the shaded jar), and the providers found only at run time:
# EC keys for TLS, DNS names for JNDI, zip file systems.
modules=java.base,java.desktop,java.net.http,java.sql,jdk.httpserver,jdk.jfr,jdk.management,jdk.security.auth
modules+=,jdk.unsupported,jdk.crypto.ec,jdk.naming.dns,jdk.zipfs

key="$( (sha256sum < "$0"; echo "$epoch $mirror") | sha256sum | cut -c1-64)"
if [ "${BASE_FORCE:-0}" != 1 ] && [ -f "$out/key" ] && [ "$(cat "$out/key")" = "$key" ] && [ -f "$out/base.tar" ]; then
  echo "base image in $out is up to date"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "build-base.sh: needs root (debootstrap, chroot)" >&2
  exit 1
fi
for tool in debootstrap umoci skopeo; do
  command -v "$tool" >/dev/null || { echo "build-base.sh: $tool is not installed" >&2; exit 1; }
done

mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$out/work"
# debootstrap mounts /proc and /sys in its target while it installs; a failed run may leave them
unmount_work() {
  local m
  for m in $(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$m" || true
  done
}
cleanup() {
  unmount_work
  rm -rf "$work"
}
trap cleanup EXIT
cleanup
rm -rf "$out/oci" "$out/base.tar" "$out/key"
mkdir -p "$work/debs"

date="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"
include="$(IFS=,; echo "${packages[*]}")"
echo "debootstrap $suite ($include) from $mirror"
debootstrap --variant=minbase --include="$include" --cache-dir="$work/debs" $suite "$work/rootfs" "$mirror" \
  > "$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
echo "debootstrap $suite with $jdk, for jlink"
debootstrap --variant=minbase --include="$include,$jdk" --cache-dir="$work/debs" $suite "$work/jdk" "$mirror" \
  > "$work/debootstrap-jdk.log" 2>&1 || { tail -n 30 "$work/debootstrap-jdk.log" >&2; exit 1; }
unmount_work

# The runtime, jlinked in the JDK's root. No /proc there, so the loader cannot resolve $ORIGIN:
# the library path is given. Then the class-data archive the JVM maps at start (and that the
# dynamic archive of bin/lamina builds on, and without which its serve does not start on JDK 17),
# dumped with the serial collector serve runs on. The archive holds the time stamp of lib/modules,
# fixed before the dump; even so JDK 17 does not dump the same bytes twice (JDK 19 does), so this
# file is the one part of the base that differs between two runs.
echo "jlink $modules"
chroot "$work/jdk" env LD_LIBRARY_PATH="$jdk_home/lib" "$jdk_home/bin/jlink" --add-modules "$modules" \
  --strip-java-debug-attributes --no-man-pages --no-header-files --compress=2 --output /jre
find "$work/jdk/jre" -print0 | xargs -0 touch -h -d "@$epoch"
chroot "$work/jdk" env LD_LIBRARY_PATH=/jre/lib /jre/bin/java -XX:+UseSerialGC -Xshare:dump -Xlog:cds=off >/dev/null
mkdir -p "$work/runtime/opt/lamina"
mv "$work/jdk/jre" "$work/runtime/opt/lamina/jre"
rm -rf "$work/jdk"

# What an image needs no copy of, or what differs between two runs of debootstrap
r="$work/rootfs"
rm -rf "$r"/var/cache/apt/* "$r"/var/lib/apt/lists/* "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old \
  "$r"/var/cache/ldconfig/aux-cache "$r"/etc/*- "$r"/etc/hostname "$r"/etc/resolv.conf "$r"/etc/machine-id \
  "$r"/dev/* "$r"/proc/* "$r"/sys/* "$r"/run/* "$r"/tmp/* "$r"/root/.[!.]* \
  "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* "$r"/usr/share/lintian
find "$r"/var/log -type f -delete
find "$r"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
find "$r"/usr/share/doc -mindepth 1 -type d -empty -delete
# the days since 1970 of each password's last change: the day of the run
awk -F: -v OFS=: -v day="$((epoch / 86400))" '$3 != "" { $3 = day } { print }' "$r/etc/shadow" > "$r/etc/shadow.new"
cat "$r/etc/shadow.new" > "$r/etc/shadow"
rm -f "$r/etc/shadow.new"

for tree in "$r" "$work/runtime"; do
  find "$tree" -newermt "@$epoch" -print0 | xargs -0r touch -h -d "@$epoch"
done

# Each tree becomes one layer: GNU tar in name order, numeric owners, no access or change times
# (umoci insert leaves its second layer unterminated, and it differs between two runs).
layer() {
  tar --create --file "$2" --directory "$1" --sort=name --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime --mtime="@$epoch" --clamp-mtime \
    --xattrs --xattrs-include=security.capability .
}
layer "$r" "$work/os.tar"
layer "$work/runtime" "$work/runtime.tar"

echo "packing $out/oci"
umoci init --layout "$out/oci"
umoci new --image "$out/oci:base"
umoci raw add-layer --image "$out/oci:base" --history.created "$date" \
  --history.created_by "debootstrap --variant=minbase --include=$include $suite" "$work/os.tar"
umoci raw add-layer --image "$out/oci:base" --history.created "$date" \
  --history.created_by "jlink --add-modules $modules ($jdk)" "$work/runtime.tar"
umoci config --image "$out/oci:base" --no-history --created "$date" --os linux --architecture amd64 \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umoci gc --layout "$out/oci"
skopeo copy --quiet "oci:$out/oci:base" "docker-archive:$out/base.tar:lamina-base:$suite"
echo "$key" > "$out/key"
echo "base image: $out/base.tar ($(du -h "$out/base.tar" | cut -f1))"
