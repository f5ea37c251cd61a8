#!/bin/sh
# What the image needs before the playbook runs, installed only when missing,
# so a base image's own tools win: python3 with venv (the roles' virtualenvs),
# sudo (the entrypoint starts cron for the non-root user), pgrep, git and CA
# certificates (a development container without them is of little use; cargo
# needs the certificates to fetch crates), and Rust.
#
# Rust: a base that already has cargo on PATH (an official rust image, with
# rustup) keeps its toolchain. Otherwise Debian's rustc-web/cargo-web, which
# bookworm keeps at a current Rust (1.85 and later) for its browser builds,
# rather than rustc/cargo (1.63 on bookworm, too old for many crates).
# buildcache/base already has them, so nothing is fetched for the default base.
set -eu

packages=""
need() { packages="$packages $*"; }

python3 -c 'import ensurepip, venv' 2>/dev/null || need python3 python3-venv
command -v sudo >/dev/null 2>&1 || need sudo
command -v pgrep >/dev/null 2>&1 || need procps
command -v git >/dev/null 2>&1 || need git
[ -e /etc/ssl/certs/ca-certificates.crt ] || need ca-certificates
if command -v cargo >/dev/null 2>&1; then
  echo "keeping the base image's Rust: $(cargo --version) at $(command -v cargo)"
else
  need rustc-web cargo-web libc6-dev
fi

if [ -z "$packages" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing:$packages; this image installs them with apt-get only (a Debian-family base)" >&2
  exit 1
fi
echo "installing:$packages"
apt-get update -qq
# shellcheck disable=SC2086 # a list of package names
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages
rm -rf /var/lib/apt/lists/*
