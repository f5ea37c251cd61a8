"""Class 2: a hit from another checkout must not carry that checkout's target-dir paths.

Checkouts A and B of one workspace live at different paths with their own target dirs
and share one cache. Every variant crate include!s generated code from its build
script's OUT_DIR (the pattern the cache keys path-neutrally) *and* also gets a path of
A's target dir into its output some other way:

- `rustc_env`: build.rs emits `cargo:rustc-env=DATA=<OUT_DIR>/data` and writes that file;
  the program prints env!("DATA") and the file's content (which names its writer);
- `include_not_rs`: `env!("OUT_DIR")` as a value, in a file include!d that is not `.rs`;
- `macro_rules_other_crate`: `env!("OUT_DIR")` inside a macro_rules! macro of another
  workspace crate, invoked by this one;
- `proc_macro`: a proc-macro whose expansion is `env!("OUT_DIR")`;
- `escaped_name`: `env!("OUT\\x5fDIR")`;
- `concat_name`: `env!(concat!("OUT", "_DIR"))`;
- `include_tokens_in_macro`: `include!(concat!(env!("OUT_DIR"), ...))` as tokens handed to a
  macro that keeps the path string instead of including it.

Checkout B built through the cache (after A filled it) must print exactly what B built
without any wrapper prints, into the same target dir.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from correctness_helpers import (
    WORKSPACE_TOML,
    cargo,
    clean_env,
    copy_checkout,
    package_toml,
    program_result,
    write_files,
)

pytestmark = pytest.mark.cargo

SHARED_BUILD_RS = r"""
use std::{env, fs, path::Path};

fn main() {
    let out = env::var("OUT_DIR").unwrap();
    fs::write(
        Path::new(&out).join("gen.rs"),
        "pub fn generated() -> &'static str { \"generated\" }\n",
    )
    .unwrap();
    fs::write(Path::new(&out).join("data"), format!("data written in {out}")).unwrap();
    println!("cargo:rustc-env=DATA={out}/data");
    println!("cargo:rerun-if-env-changed=BUILDCACHE_TEST_NEVER_SET");
}
"""

INCLUDE_GENERATED = 'include!(concat!(env!("OUT_DIR"), "/gen.rs"));\n'

# variant -> (lib.rs after the include of gen.rs, extra files, workspace deps)
VARIANTS: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "rustc_env": (
        "pub fn value() -> String {\n"
        '    let data = std::fs::read_to_string(env!("DATA")).unwrap_or_else(|e| e.to_string());\n'
        '    format!("{} holds [{}]", env!("DATA"), data)\n'
        "}\n",
        {},
        (),
    ),
    "include_not_rs": (
        'pub fn value() -> String { include!("out_dir.in").to_string() }\n',
        {"src/out_dir.in": 'env!("OUT_DIR")\n'},
        (),
    ),
    "macro_rules_other_crate": (
        "pub fn value() -> String { v_macro_def::out_dir!().to_string() }\n",
        {},
        ("v_macro_def",),
    ),
    "proc_macro": (
        "pub fn value() -> String { v_proc_def::out_dir!().to_string() }\n",
        {},
        ("v_proc_def",),
    ),
    "escaped_name": ('pub fn value() -> String { env!("OUT\\x5fDIR").to_string() }\n', {}, ()),
    "concat_name": (
        'pub fn value() -> String { env!(concat!("OUT", "_DIR")).to_string() }\n',
        {},
        (),
    ),
    "include_tokens_in_macro": (
        "macro_rules! keep_path { (include!($path:expr)) => { $path }; }\n"
        "pub fn value() -> String {\n"
        '    keep_path!(include!(concat!(env!("OUT_DIR"), "/gen.rs"))).to_string()\n'
        "}\n",
        {},
        (),
    ),
}


def make_workspace(root: Path) -> None:
    files = {
        "Cargo.toml": WORKSPACE_TOML,
        "build-support/out_dir_build.rs": SHARED_BUILD_RS,
        "crates/v_macro_def/Cargo.toml": package_toml("v_macro_def"),
        "crates/v_macro_def/src/lib.rs": (
            '#[macro_export]\nmacro_rules! out_dir { () => { env!("OUT_DIR") }; }\n'
        ),
        "crates/v_proc_def/Cargo.toml": package_toml(
            "v_proc_def", extra="\n[lib]\nproc-macro = true"
        ),
        "crates/v_proc_def/src/lib.rs": (
            "use proc_macro::TokenStream;\n"
            "#[proc_macro]\n"
            "pub fn out_dir(_: TokenStream) -> TokenStream {\n"
            '    "env!(\\"OUT_DIR\\")".parse().unwrap()\n'
            "}\n"
        ),
    }
    main_lines = []
    for variant, (lib_rs, extra_files, deps) in VARIANTS.items():
        crate = f"v_{variant}"
        files[f"crates/{crate}/Cargo.toml"] = package_toml(
            crate, deps=deps, extra='build = "../../build-support/out_dir_build.rs"'
        )
        files[f"crates/{crate}/src/lib.rs"] = INCLUDE_GENERATED + lib_rs
        for relative, text in extra_files.items():
            files[f"crates/{crate}/{relative}"] = text
        main_lines.append(f'    println!("{variant}: {{}}", {crate}::value());')
    files["crates/app/Cargo.toml"] = package_toml(
        "app", deps=tuple(f"v_{variant}" for variant in VARIANTS)
    )
    files["crates/app/src/main.rs"] = "fn main() {\n" + "\n".join(main_lines) + "\n}\n"
    write_files(root, files)


def by_variant(output: str) -> dict[str, str]:
    lines = {}
    for line in output.splitlines():
        name, _, value = line.partition(": ")
        lines[name] = value
    return lines


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("paths")
    env = clean_env(base / "home", base / "cache")
    checkout_a = base / "checkout-a" / "ws"
    make_workspace(checkout_a)
    checkout_b = copy_checkout(checkout_a, base / "elsewhere" / "checkout-b")

    cargo(checkout_a, "build", env=env)
    cargo(checkout_b, "build", env=env, cached=False)
    uncached = program_result(checkout_b / "target" / "debug" / "app")
    shutil.rmtree(checkout_b / "target")
    cargo(checkout_b, "build", env=env)
    cached = program_result(checkout_b / "target" / "debug" / "app")
    return {
        "a": str(checkout_a),
        "b": str(checkout_b),
        "uncached": by_variant(uncached),
        "cached": by_variant(cached),
    }


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_second_checkout_prints_its_own_target_dir_paths(
    outputs: dict[str, object], variant: str
) -> None:
    uncached = outputs["uncached"][variant]  # type: ignore[index]
    cached = outputs["cached"][variant]  # type: ignore[index]
    assert str(outputs["b"]) in uncached, f"test bug: {uncached!r} does not name checkout B"
    assert cached == uncached, (
        f"checkout B built through the cache prints {cached!r}; "
        f"built without it, {uncached!r}"
        + (" (checkout A's path)" if str(outputs["a"]) in cached else "")
    )
