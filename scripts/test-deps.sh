#!/usr/bin/env bash
# What `make test` needs on this machine, run first by `make test` (and by
# `make test-deps`). Debian packages are installed when missing, which needs
# root; without root it names the one command to run instead. A Rust toolchain
# and a Docker engine belong to the machine: they are checked, not installed.
# Quick when everything is there: only `command -v`, dpkg-query and docker calls.
#
#   PYTHON            the interpreter of the test virtualenv (default python3)
#   PROVISION_PYTHON  the interpreter that builds the wheelhouse (default python3)
#   BASE_IMAGE        the container tests' base image; debootstrap is needed
#                     only while it is missing or out of date
#   BUILDCACHE_TEST_TOOLS  where tools built for the tests are installed (default
#                     ~/.cache/buildcache-kit/test-tools): once per machine and user
set -euo pipefail
cd "$(dirname "$0")/.."
# debootstrap and dpkg live in sbin, which a user's PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

PYTHON=${PYTHON:-python3}
PROVISION_PYTHON=${PROVISION_PYTHON:-python3}
BASE_IMAGE=${BASE_IMAGE:-buildcache/base:bookworm}

packages=()  # Debian packages to install
reasons=()   # "package (what needs it)", for the message
problems=()  # what no package here fixes
sudo_targets=(test-deps)

need() {
  local package=$1 reason=$2
  if [[ " ${packages[*]} " != *" $package "* ]]; then
    packages+=("$package")
    reasons+=("$package ($reason)")
  fi
}

installed() {
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# Debian's own python3 gets venv and pip from packages; any other interpreter
# (pyenv, a source build) has them built in or must be fixed by its owner.
python_needs() {
  local python=$1 modules=$2 package=$3 what=$4
  if ! command -v "$python" >/dev/null; then
    [[ $python == python3 ]] && need python3 "$what" && return
    problems+=("$python is not a command ($what)")
    return
  fi
  "$python" -c "import $modules" 2>/dev/null && return
  if [[ $("$python" -c 'import sys; print(sys.prefix)') == /usr ]]; then
    need "$package" "$what"
  else
    problems+=("$python cannot import $modules ($what): fix that interpreter, or use Debian's (PYTHON=/usr/bin/python3)")
  fi
}

python_needs "$PYTHON" "ensurepip, venv" python3-venv "creates the test virtualenv"
if [[ $PROVISION_PYTHON != "$PYTHON" ]]; then
  python_needs "$PROVISION_PYTHON" "ensurepip, venv" python3-venv "the provisioning virtualenv"
fi
python_needs "$PROVISION_PYTHON" pip python3-pip "downloads the wheelhouse"
command -v git >/dev/null || need git "lists the files copied into test containers"
command -v cc >/dev/null || need gcc "cargo links with cc; native-input tests compile C"
command -v ar >/dev/null || need binutils "native-input tests build a static library"
command -v chattr >/dev/null || need e2fsprogs "tests of files nobody can delete use chattr"
# Remote tiers are tested against real servers on loopback (tests/remote/).
command -v redis-server >/dev/null || need redis-server "remote-tier tests run a real Redis"
installed nginx || need nginx "remote-tier tests run a real WebDAV server"
installed libnginx-mod-http-dav-ext || need libnginx-mod-http-dav-ext "nginx's WebDAV methods"

# Under sudo (`sudo make test-deps`) root's PATH is not the user's: the user
# who runs the tests has their own cargo, which root need not see.
if [[ -z ${SUDO_USER:-} ]] && ! command -v cargo >/dev/null; then
  problems+=("no cargo on PATH: install Rust for the user who runs the tests (https://rustup.rs), then open a new shell")
fi

# The s3:// tier is tested against s3s-fs, a real S3 server on a plain directory,
# from crates.io (no package has one; Garage is far heavier to build and set up).
# Built once per machine and user, outside the checkout, and reused: about 90 s
# cold on two cores (docs/testing.md). Pinned: 0.15 and later need rustc 1.96.
# tests/correctness/remote_servers.py looks for it in the same place.
S3S_FS_VERSION=0.14.0
test_tools=${BUILDCACHE_TEST_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/buildcache-kit/test-tools}
if [[ -z ${SUDO_USER:-} ]] && command -v cargo >/dev/null &&
   ! { [[ -x $test_tools/bin/s3s-fs ]] &&
       grep -qs "^\"s3s-fs $S3S_FS_VERSION " "$test_tools/.crates.toml"; }; then
  echo "building s3s-fs $S3S_FS_VERSION into $test_tools (once per machine, ~90 s)"
  # No wrapper: the user's cargo config may name one (ours), which this need not test.
  RUSTC_WRAPPER= CARGO_BUILD_RUSTC_WRAPPER= cargo install --quiet --locked \
    --root "$test_tools" "s3s-fs@$S3S_FS_VERSION" --features binary ||
    problems+=("building s3s-fs $S3S_FS_VERSION failed (cargo install above): the s3:// tests need it")
fi

docker_ok=false
if ! command -v docker >/dev/null; then
  problems+=("no docker command: the container tests need a running Docker engine (as root: apt-get install docker.io)")
elif ! docker_error=$(docker info --format '{{.ServerVersion}}' 2>&1 >/dev/null); then
  how="start it (as root: systemctl start docker)"
  if ((EUID)); then how+=", or ask to be added to the docker group"; fi
  problems+=("the Docker engine is not reachable (${docker_error:-docker info failed}): $how")
else
  docker_ok=true
fi

# The base image is debootstrapped (root only) when it is missing or out of date.
if $docker_ok && ! BASE_IMAGE=$BASE_IMAGE images/base/build.sh --check; then
  if ! installed debootstrap; then
    need debootstrap "builds the container tests' base image $BASE_IMAGE"
  fi
  if ((EUID)); then sudo_targets+=(base-image); fi
fi

status=0
if ((${#packages[@]})) && ((EUID == 0)); then
  echo "installing what make test needs: ${reasons[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for another apt run (a second checkout's make test) rather than fail.
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${packages[@]}"
elif ((${#packages[@]})); then
  echo "make test needs Debian packages that only root can install:" >&2
  printf '  %s\n' "${reasons[@]}" >&2
  status=1
fi
if ((${#sudo_targets[@]} > 1)); then
  echo "$BASE_IMAGE is missing or out of date, and building it (debootstrap) needs root." >&2
  status=1
fi
for problem in "${problems[@]}"; do
  echo "make test cannot run: $problem" >&2
  status=1
done
if ((EUID)) && { ((${#packages[@]})) || ((${#sudo_targets[@]} > 1)); }; then
  echo "Run: sudo make ${sudo_targets[*]}" >&2
fi
exit $status
