"""`buildcache config [--json]`: each effective setting and where it came from."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("config", help="show the effective configuration")
    parser.add_argument("--json", action="store_true", help="print the configuration as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    import os

    from buildcache.config import SYSTEM_CONFIG_FILE, load_config, user_config_file
    from buildcache.remote.urls import redact
    from buildcache.sizes import format_size

    config = load_config()
    key_file = config.origins.get("BUILDCACHE_REMOTE_SIGNING_KEY_FILE", "default") != "default"
    values = {
        "BUILDCACHE_DIR": config.cache_dir,
        "BUILDCACHE_MAX_SIZE": f"{config.max_bytes}",
        "BUILDCACHE_DISABLE": "1" if config.disabled else "0",
        "BUILDCACHE_LOG": config.log,
        # Credentials in the URLs and the key itself are never shown.
        "BUILDCACHE_REMOTE": " ".join(redact(url) for url in config.remotes),
        "BUILDCACHE_REMOTE_READ_ONLY": "1" if config.remote_read_only else "0",
        "BUILDCACHE_REMOTE_TIMEOUT": f"{config.remote_timeout:g}",
        "BUILDCACHE_REMOTE_SIGNING_KEY": "(set)" if config.signing_key and not key_file else "",
        "BUILDCACHE_REMOTE_SIGNING_KEY_FILE": "(set)" if key_file else "",
        "BUILDCACHE_COMPRESSION_LEVEL": str(config.compression_level),
        "BUILDCACHE_BACKGROUND_STORE": "1" if config.background_store else "0",
    }
    files = {
        "user": user_config_file(os.environ),
        "system": os.environ.get("BUILDCACHE_SYSTEM_CONFIG", SYSTEM_CONFIG_FILE),
    }
    if args.json:
        settings = {
            name: {"value": v, "origin": config.origins[name]} for name, v in values.items()
        }
        print(json.dumps({"settings": settings, "config_files": files}, indent=2))
        return 0
    shown = dict(values, BUILDCACHE_MAX_SIZE=format_size(config.max_bytes))
    for name, value in shown.items():
        print(f"{name:<34} {value or '(unset)':<40} from {config.origins[name]}")
    print(f"\nConfig files: {files['user']} (user), {files['system']} (system)")
    return 0
