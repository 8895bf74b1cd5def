#!/usr/bin/env bash
# Builds the base of lamina's container image from Debian packages, as an OCI layout (umoci) and
# as the `docker save` tarball Jib takes as a base image (skopeo):
#   layer 1  debootstrap --variant=minbase bookworm, plus what `lamina serve` runs at run time
#            (mount, igzip and unpigz, ca-certificates, curl for the chart's node setup)
#   layer 2  /opt/lamina/jre, a Java runtime jlinked from the build machine's JDK 25 (Temurin), or
#            from another JDK 19 or later named by LAMINA_IMAGE_JDK; without one, from Debian's
#            openjdk-17-jdk-headless, installed in a second, throw-away root. The chart copies
#            /opt/lamina to the host, so the runtime must not lean on files outside it
# Apt's caches and lists, logs, and the files made at install time that differ between two runs
# are removed; every time stamp is clamped to SOURCE_DATE_EPOCH. Two runs with the same epoch, the
# same JDK and the same packages on the mirror give the same layers, byte for byte: JDK 19 and
# later dump the runtime's class-data archive (lib/server/classes.jsa) the same every time. JDK 17
# does not: on the openjdk-17 fallback that archive, and so the image's digest, differs between
# some runs (most runs with its perf data on, fewer without, as here).
#
# The result is kept: a run whose inputs (this script, the epoch, the mirror, the JDK's release
# file) match the ones of the base in OUT does nothing. OUT/jdk names the JDK the runtime comes
# from: its home, or the Debian package.
#
# Usage: SOURCE_DATE_EPOCH=... build-base.sh OUT
# Environment: BASE_MIRROR (http://deb.debian.org/debian), BASE_FORCE=1 rebuilds regardless,
# LAMINA_IMAGE_JDK (or IMAGE_JDK, which wins): the home of the JDK to jlink the runtime from, or
# `debian` for Debian's openjdk-17; by default /usr/lib/jvm/temurin-25-jdk-amd64 when it is there.
set -euo pipefail

out="${1:?usage: build-base.sh OUT}"
epoch="${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH is required}"
mirror="${BASE_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
packages=(mount isal pigz ca-certificates curl)
debian_jdk=openjdk-17-jdk-headless
debian_jdk_home=/usr/lib/jvm/java-17-openjdk-amd64
default_jdk=/usr/lib/jvm/temurin-25-jdk-amd64
# What lamina.jar needs (jdeps over the shaded jar), and the providers found only at run time:
# EC keys for TLS, DNS names for JNDI, zip file systems.
modules=java.base,java.desktop,java.net.http,java.sql,jdk.httpserver,jdk.jfr,jdk.management,jdk.security.auth
modules+=,jdk.unsupported,jdk.crypto.ec,jdk.naming.dns,jdk.zipfs

# The JDK to jlink from: its home, or empty for Debian's openjdk-17 in a root of its own. One named
# must be a JDK 19 or later (whose class-data dump is the same every run) with a jlink.
feature_of() { sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release" 2>/dev/null; }
jdk="${IMAGE_JDK:-${LAMINA_IMAGE_JDK:-}}"
if [ "$jdk" = debian ]; then
  jdk=""
  why="LAMINA_IMAGE_JDK=debian"
elif [ -n "$jdk" ]; then
  v="$(feature_of "$jdk")"
  if [ ! -x "$jdk/bin/jlink" ] || [ "${v:-0}" -lt 19 ]; then
    echo "build-base.sh: $jdk is no JDK 19 or later with a jlink (its release file: JAVA_VERSION ${v:-missing})" >&2
    exit 1
  fi
elif [ -x "$default_jdk/bin/jlink" ] && [ "$(feature_of "$default_jdk")" = 25 ]; then
  jdk="$default_jdk"
else
  why="no $default_jdk and no LAMINA_IMAGE_JDK"
fi
if [ -n "$jdk" ]; then
  jdk="$(cd "$jdk" && pwd -P)"
  jdk_id="$(cat "$jdk/release")"
else
  jdk_id="$debian_jdk"
fi

if [ -z "$jdk" ]; then
  echo "build-base.sh: $why: the runtime is jlinked from Debian's $debian_jdk; JDK 17 does not" \
    "dump the same class-data archive every run, so this image's digest may differ between builds"
fi

key="$( (sha256sum < "$0"; echo "$epoch $mirror"; echo "$jdk_id") | sha256sum | cut -c1-64)"
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
rm -rf "$out/oci" "$out/base.tar" "$out/key" "$out/jdk"
mkdir -p "$work/debs"

date="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"
include="$(IFS=,; echo "${packages[*]}")"
echo "debootstrap $suite ($include) from $mirror"
debootstrap --variant=minbase --include="$include" --cache-dir="$work/debs" $suite "$work/rootfs" "$mirror" \
  > "$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
unmount_work
r="$work/rootfs"
mkdir -p "$work/runtime/opt/lamina"
if [ -n "$jdk" ]; then
  # The runtime, jlinked here from the JDK's own run-time image or its jmods (Temurin 25 ships no
  # jmods, and its jlink links from the run-time image, JEP 493). It must run in the base: the
  # JDK's libraries are looked up there, and the class-data archive the JVM maps at start (and on
  # which the AOT cache and the dynamic archive of bin/lamina build) is dumped there, with the
  # serial collector and the heap serve runs on; the archive holds the time stamp of lib/modules,
  # fixed before the dump.
  feature="$(feature_of "$jdk")"
  if [ "$feature" -ge 21 ]; then compress=zip-6; else compress=2; fi
  echo "jlink $modules from $jdk (JDK $(sed -n 's/^JAVA_VERSION="\(.*\)"/\1/p' "$jdk/release"))"
  "$jdk/bin/jlink" --add-modules "$modules" --strip-java-debug-attributes --no-man-pages --no-header-files \
    --compress="$compress" --output "$r/opt/lamina/jre"
  find "$r/opt/lamina/jre" -print0 | xargs -0 touch -h -d "@$epoch"
  # No /proc in the root, so the loader cannot resolve $ORIGIN: the library path is given. Every
  # program and library must find its libraries, and the C library's versions, in the base; but
  # for those of java.desktop's X11 and sound libraries (libX11, libasound), which a headless JVM
  # never loads.
  missing="$(chroot "$r" env LD_LIBRARY_PATH=/opt/lamina/jre/lib:/opt/lamina/jre/lib/server sh -c \
    'for f in /opt/lamina/jre/bin/* $(find /opt/lamina/jre/lib -name "*.so"); do ldd "$f" | sed "s|^|$f: |"; done' \
    | grep 'not found' | grep -Ev '(libX[A-Za-z0-9]*|libasound)\.so\.[0-9.]* => not found' || true)"
  if [ -n "$missing" ]; then
    echo "build-base.sh: the runtime from $jdk does not run on $suite:" >&2
    echo "$missing" >&2
    exit 1
  fi
  chroot "$r" env LD_LIBRARY_PATH=/opt/lamina/jre/lib /opt/lamina/jre/bin/java -XX:+UseSerialGC -Xmx128m \
    -XX:-UsePerfData -Xshare:dump -Xlog:cds=off >/dev/null
  mv "$r/opt/lamina/jre" "$work/runtime/opt/lamina/jre"
  rmdir "$r/opt/lamina"
  jdk_name="$(sed -n 's/^IMPLEMENTOR_VERSION="\(.*\)"/\1/p' "$jdk/release")"
  jdk_name="${jdk_name:-JDK $(sed -n 's/^JAVA_VERSION="\(.*\)"/\1/p' "$jdk/release")}"
else
  echo "debootstrap $suite with $debian_jdk, for jlink"
  debootstrap --variant=minbase --include="$include,$debian_jdk" --cache-dir="$work/debs" $suite "$work/jdk" "$mirror" \
    > "$work/debootstrap-jdk.log" 2>&1 || { tail -n 30 "$work/debootstrap-jdk.log" >&2; exit 1; }
  unmount_work
  # The runtime, jlinked in the JDK's root (no /proc there, so the loader cannot resolve $ORIGIN:
  # the library path is given), and its class-data archive, as above. Even with lib/modules' time
  # stamp fixed, JDK 17 does not dump the same bytes every time (JDK 19 does; without its perf data
  # JDK 17 differs less often, but still does), so this file is the part of such a base that may
  # differ between two runs.
  echo "jlink $modules from $debian_jdk"
  chroot "$work/jdk" env LD_LIBRARY_PATH="$debian_jdk_home/lib" "$debian_jdk_home/bin/jlink" --add-modules "$modules" \
    --strip-java-debug-attributes --no-man-pages --no-header-files --compress=2 --output /jre
  find "$work/jdk/jre" -print0 | xargs -0 touch -h -d "@$epoch"
  chroot "$work/jdk" env LD_LIBRARY_PATH=/jre/lib /jre/bin/java -XX:+UseSerialGC -Xmx128m -XX:-UsePerfData \
    -Xshare:dump -Xlog:cds=off >/dev/null
  mv "$work/jdk/jre" "$work/runtime/opt/lamina/jre"
  rm -rf "$work/jdk"
  jdk_name="$debian_jdk"
fi

# What an image needs no copy of, or what differs between two runs of debootstrap
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
  --history.created_by "jlink --add-modules $modules ($jdk_name)" "$work/runtime.tar"
umoci config --image "$out/oci:base" --no-history --created "$date" --os linux --architecture amd64 \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umoci gc --layout "$out/oci"
skopeo copy --quiet "oci:$out/oci:base" "docker-archive:$out/base.tar:lamina-base:$suite"
echo "${jdk:-$debian_jdk}" > "$out/jdk"
echo "$key" > "$out/key"
echo "base image: $out/base.tar ($(du -h "$out/base.tar" | cut -f1))"
