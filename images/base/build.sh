#!/usr/bin/env bash
# Build the Docker image buildcache/base:bookworm without any container
# registry: debootstrap a minimal Debian root, then `docker import` it.
#
# Usage: images/base/build.sh [--force | --check]
#   BASE_IMAGE        image name (default buildcache/base:bookworm)
#   DEBIAN_MIRROR     Debian mirror to debootstrap from (default: the host's)
#   DEBOOTSTRAP_CACHE where downloaded .debs are kept between builds, outside
#                     the repository (default /var/cache/buildcache-kit/debootstrap)
#
# Needs root (debootstrap chroots) and a Docker engine; nothing else is pulled.
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-buildcache/base:bookworm}
SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBOOTSTRAP_CACHE=${DEBOOTSTRAP_CACHE:-/var/cache/buildcache-kit/debootstrap}

# What provisioning and the container tests need. Rust comes from bookworm's
# rustc-web/cargo-web (1.85, the toolchain Debian keeps current for Firefox and
# Chromium builds; they install /usr/bin/rustc and /usr/bin/cargo): the plain
# rustc/cargo packages are 1.63, too old for much of today's crates.io (clap 4
# needs 1.74). Either way every container builds the fixture workspace offline.
# zsh is there so the dotfiles role's ~/.zshrc block can be exercised.
# debootstrap does not resolve virtual packages, so rustc's `libc-dev` is
# named as the real package that provides it.
PACKAGES=(
  python3 python3-venv python3-pip
  make cron sudo ca-certificates procps git
  cargo-web rustc-web libc6-dev
  zsh less
)
# Recorded as a label, so an image built from another package list is rebuilt
# instead of silently reused.
RECIPE_LABEL=buildcache-kit.base.packages
recipe="$SUITE: ${PACKAGES[*]}"

image_is_current() {
  local built_from
  built_from=$(docker image inspect --format "{{index .Config.Labels \"$RECIPE_LABEL\"}}" \
    "$BASE_IMAGE" 2>/dev/null) && [[ $built_from == "$recipe" ]]
}

force=false
case "${1:-}" in
  --force) force=true ;;
  # Exit 0 when the image exists and was built from this package list, 1 when
  # a build is due (scripts/test-deps.sh asks, to know whether debootstrap is needed).
  --check) image_is_current; exit ;;
  "") ;;
  *) echo "usage: $0 [--force | --check]" >&2; exit 2 ;;
esac

if ! $force && image_is_current; then
  echo "$BASE_IMAGE already exists (use --force or make base-image FORCE=1 to rebuild)"
  exit 0
fi
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && ! $force; then
  echo "$BASE_IMAGE was built from another package list; rebuilding it"
fi

if [[ $EUID -ne 0 ]]; then
  echo "debootstrap needs root: run this as root (sudo make base-image)" >&2
  exit 1
fi
command -v debootstrap >/dev/null || [[ -x /usr/sbin/debootstrap ]] || {
  echo "debootstrap is missing: make test-deps installs it (or: apt-get install debootstrap)" >&2
  exit 1
}
export PATH="$PATH:/usr/sbin:/sbin"

# Checkouts on one machine share the image name and the package cache: one
# build at a time, and a build that had to wait checks whether it is still due.
exec {lock_fd}>/run/lock/buildcache-kit-base-image.lock
if ! flock --nonblock "$lock_fd"; then
  echo "waiting for another build of $BASE_IMAGE to finish"
  flock "$lock_fd"
  if ! $force && image_is_current; then
    echo "$BASE_IMAGE was built meanwhile"
    exit 0
  fi
fi

mkdir -p "$DEBOOTSTRAP_CACHE"
rootfs=$(mktemp -d /var/tmp/buildcache-base.XXXXXX)
cleanup() {
  # A failed debootstrap can leave proc/sys mounted inside the root.
  for mount in proc sys dev/pts dev; do
    mountpoint -q "$rootfs/$mount" && umount -l "$rootfs/$mount" || true
  done
  rm -rf --one-file-system "$rootfs"
}
trap cleanup EXIT

start=$SECONDS
previous=$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)
echo "debootstrapping $SUITE into $rootfs (package cache: $DEBOOTSTRAP_CACHE)"
include=$(IFS=,; echo "${PACKAGES[*]}")
debootstrap --variant=minbase --include="$include" --cache-dir="$DEBOOTSTRAP_CACHE" \
  "$SUITE" "$rootfs" "$DEBIAN_MIRROR"

# Make the root a container root filesystem rather than a machine's.
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $DEBIAN_MIRROR $SUITE main
deb $DEBIAN_MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
SOURCES
# Containers have no init: keep package installs from trying to start daemons.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
# Docker provides these per container.
rm -f "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf"
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log \
  "$rootfs"/tmp/* "$rootfs"/var/tmp/*

echo "importing the root as $BASE_IMAGE"
tar --numeric-owner --xattrs -C "$rootfs" -c . |
  docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV DEBIAN_FRONTEND=noninteractive' \
    --change 'WORKDIR /root' \
    --change 'CMD ["/bin/bash"]' \
    --change "LABEL $RECIPE_LABEL=\"$recipe\"" \
    --message "debootstrap --variant=minbase $SUITE + ${PACKAGES[*]}" \
    - "$BASE_IMAGE"
# A forced rebuild leaves the old image untagged; drop it unless a container uses it.
if [[ -n $previous && $previous != "$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE")" ]]; then
  docker image rm "$previous" >/dev/null 2>&1 || true
fi
echo "built $BASE_IMAGE in $((SECONDS - start))s"
