#!/bin/sh
# The devcontainer image's entrypoint, also run by devcontainer.json's
# postStartCommand (devcontainer tools replace an image's ENTRYPOINT with their
# own keep-alive loop). Containers have no init, so:
#  1. start cron, so the cleanup job the roles installed actually runs;
#  2. hand the volume mount points to the current user when it cannot write
#     them (a devcontainer tool that changed the user's uid to the host's, or a
#     volume first filled by another image), and create them when missing: a
#     Codespace mounts its own /workspaces over the image's, so the cache dir
#     devcontainer.json puts there is not there until this makes it;
# then run the given command, if any. Both steps need root or passwordless sudo
# and are skipped, with a note on stderr, without them: `docker run IMAGE cmd`
# must run cmd whatever happens here.
set -u

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    return 1
  fi
}

if command -v cron >/dev/null 2>&1 && ! pgrep -x cron >/dev/null 2>&1; then
  as_root cron 2>/dev/null ||
    echo "buildcache: cron is not running (needs root or sudo); the cleanup job will not run" >&2
fi

for dir in "${CARGO_TARGET_DIR:-}" "${BUILDCACHE_DIR:-}"; do
  if [ -z "$dir" ]; then
    continue
  elif [ ! -e "$dir" ]; then
    # Empty and ours: buildcache marks it as its cache on first use.
    { mkdir -p "$dir" 2>/dev/null ||
      { as_root mkdir -p "$dir" && as_root chown "$(id -u):$(id -g)" "$dir"; }; } ||
      echo "buildcache: cannot create $dir as $(id -un)" >&2
  elif [ -d "$dir" ] && [ ! -w "$dir" ]; then
    as_root chown -R "$(id -u):$(id -g)" "$dir" ||
      echo "buildcache: $dir is not writable by $(id -un)" >&2
  fi
done

if [ "$#" -gt 0 ]; then
  exec "$@"
fi
