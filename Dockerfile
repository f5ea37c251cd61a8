# The devcontainer / CI-runner image: any Debian-family base, provisioned by the
# same ansible/site.yml as a workstation (`make provision`), run with -c local.
# Works with the classic builder (no BuildKit features). `make image` builds it
# as buildcache/devcontainer:latest after `make base-image` and `make wheelhouse`
# (ansible-core's and buildcache's wheels: the build needs no package index).
ARG BASE_IMAGE=buildcache/base:bookworm
FROM ${BASE_IMAGE}

# The non-root user devcontainers expect (uid 1000, passwordless sudo).
# Not named USERNAME: build args are environment variables in RUN, and ansible
# (Python's getpass) takes USERNAME, USER or LOGNAME as the user running it,
# which would make the playbook think it runs as that user rather than root.
ARG IMAGE_USER=dev
ARG USER_UID=1000

USER root

COPY images/devcontainer/install-prerequisites.sh /tmp/buildcache-kit/
RUN /tmp/buildcache-kit/install-prerequisites.sh \
 && if ! id -u "$IMAGE_USER" >/dev/null 2>&1; then \
      useradd --create-home --shell /bin/bash --uid "$USER_UID" --user-group "$IMAGE_USER"; \
    fi \
 && printf '%s ALL=(root) NOPASSWD:ALL\n' "$IMAGE_USER" >"/etc/sudoers.d/$IMAGE_USER" \
 && chmod 0440 "/etc/sudoers.d/$IMAGE_USER" \
 && rm -rf /tmp/buildcache-kit

# ansible-core lives in a throwaway virtualenv: it is needed only here, and
# leaving it out keeps the image smaller and its Python packages the user's.
# The build context mirrors the checkout (the buildcache role's default
# package), plus the wheelhouse when there is one: `make image` always has one,
# since containers here reach no package index; a Codespace build has none and
# uses the index. The wheels stay in one ~8 MB layer (the classic builder has no
# build mounts to keep them out).
ARG ANSIBLE_CORE_SPEC="ansible-core>=2.15,<2.19"
COPY pyproject.toml README.md /tmp/buildcache-kit/
COPY buildcache /tmp/buildcache-kit/buildcache
COPY ansible /tmp/buildcache-kit/ansible
COPY images/devcontainer/wheelhouse.txt .cache/wheelhouse* /tmp/buildcache-kit/wheelhouse/

# The shared target dir and the cache: where a CI job or `docker run` mounts
# named volumes. The playbook creates both owned by the user (a fresh named
# volume copies that ownership from the image) and writes the cache dir into
# /etc/buildcache.conf for cron. They are exported too, so `docker image
# inspect` and every process see the same paths. devcontainer.json builds with
# BUILDCACHE_DIR under /workspaces, which a Codespace's full rebuild keeps while
# it deletes volumes. Declared this late so the layers above are shared by both.
ARG BUILDCACHE_DIR=/var/cache/buildcache
ENV CARGO_TARGET_DIR=/var/cache/cargo-target \
    BUILDCACHE_DIR=$BUILDCACHE_DIR
RUN set -eu; kit=/tmp/buildcache-kit; \
    if ls "$kit"/wheelhouse/buildcache-*.whl >/dev/null 2>&1; then \
      offline="--no-index --find-links $kit/wheelhouse"; \
      package_vars="-e buildcache_package=buildcache -e buildcache_pip_find_links=$kit/wheelhouse -e buildcache_pip_no_index=true"; \
    else \
      offline=""; package_vars=""; \
    fi; \
    python3 -m venv "$kit/ansible-venv"; \
    "$kit/ansible-venv/bin/pip" install --quiet $offline "$ANSIBLE_CORE_SPEC"; \
    LC_ALL=C.UTF-8 ANSIBLE_CONFIG="$kit/ansible/ansible.cfg" \
      "$kit/ansible-venv/bin/ansible-playbook" -c local "$kit/ansible/site.yml" \
      -e "provision_user=$IMAGE_USER" \
      -e "provision_target_dir=$CARGO_TARGET_DIR" \
      -e "buildcache_cache_dir=$BUILDCACHE_DIR" \
      ${CARGO_HOME:+-e "provision_cargo_home=$CARGO_HOME"} \
      $package_vars; \
    rm -rf "$kit" /root/.ansible /root/.cache

COPY images/devcontainer/container-init.sh /usr/local/bin/buildcache-container-init

USER $IMAGE_USER
WORKDIR /home/$IMAGE_USER
# Starts cron (the cleanup job) and claims the volume mount points, then runs
# the command: `docker run IMAGE cargo build` works as usual.
ENTRYPOINT ["/usr/local/bin/buildcache-container-init"]
CMD ["bash"]
