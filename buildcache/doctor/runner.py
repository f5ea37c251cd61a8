"""Run every doctor check, in the order a user would fix them."""

from __future__ import annotations

from buildcache.doctor import cache_checks, cargo_checks, install_checks, remote_checks
from buildcache.doctor.model import CheckResult, Setup


def run_checks(setup: Setup) -> list[CheckResult]:
    """Every check, in the order a user would fix them."""
    config_result, config = cache_checks.check_config(setup)
    results = [config_result]
    if config is not None:  # the other cache checks need a valid configuration
        results.append(cache_checks.check_disable(config))
    results.append(install_checks.check_on_path(setup))
    results.append(cargo_checks.check_wrapper(setup))
    if config is not None:
        results.append(cache_checks.check_cache_dir(config))
        results.append(cache_checks.check_size_cap(config))
        results.extend(remote_checks.check_remotes(config, setup.environ))
    results.append(cargo_checks.check_target_dir(setup))
    results.append(install_checks.check_cleanup_job(setup))
    return results
