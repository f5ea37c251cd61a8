"""Class 5: a hit must not restore dep-info that points into another checkout.

A proc-macro reads CARGO_MANIFEST_DIR while expanding (rustc does not see that read)
and expands to `include_str!("<that dir>/data.txt")` (or include_bytes!, include!) with
the absolute path as a literal. The using crate's sources are identical in two
checkouts, but rustc's dep-info names the data file by its absolute path.

After checkout A filled the cache, checkout B's build may hit, but what it restores
(`target/debug/deps/*.d` and cargo's own fingerprint dep-info, which cargo writes from
it) must name B's data file, not A's: otherwise cargo watches A's file, and editing
the file in B does not rebuild anything.
"""

from __future__ import annotations

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

PROC_MACRO = r"""
use proc_macro::{TokenStream, TokenTree};

fn absolute(input: TokenStream) -> String {
    let literal = match input.into_iter().next() {
        Some(TokenTree::Literal(literal)) => literal.to_string(),
        other => panic!("expected a file name literal, got {other:?}"),
    };
    let name = literal.trim_matches('"');
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    format!("{dir}/{name}")
}

#[proc_macro]
pub fn include_str_abs(input: TokenStream) -> TokenStream {
    format!("include_str!({:?})", absolute(input)).parse().unwrap()
}

#[proc_macro]
pub fn include_bytes_abs(input: TokenStream) -> TokenStream {
    format!("include_bytes!({:?})", absolute(input)).parse().unwrap()
}

#[proc_macro]
pub fn include_abs(input: TokenStream) -> TokenStream {
    format!("include!({:?})", absolute(input)).parse().unwrap()
}
"""

# variant -> (crate, data file, its content for version N, lib.rs)
VARIANTS = {
    "include_str": (
        "d_str",
        "data.txt",
        "str data v{n}\n",
        'pub fn value() -> String { abs_path::include_str_abs!("data.txt").trim().to_string() }\n',
    ),
    "include_bytes": (
        "d_bytes",
        "data.bin",
        "bytes data v{n}\n",
        "pub fn value() -> String {\n"
        '    String::from_utf8_lossy(abs_path::include_bytes_abs!("data.bin")).trim().to_string()\n'
        "}\n",
    ),
    "include": (
        "d_include",
        "value.expr",
        '"include data v{n}"\n',
        'pub fn value() -> String { abs_path::include_abs!("value.expr").to_string() }\n',
    ),
}


def make_workspace(root: Path) -> None:
    files = {
        "Cargo.toml": WORKSPACE_TOML,
        "crates/abs_path/Cargo.toml": package_toml("abs_path", extra="\n[lib]\nproc-macro = true"),
        "crates/abs_path/src/lib.rs": PROC_MACRO,
    }
    lines = []
    for variant, (crate, data_name, data, lib_rs) in VARIANTS.items():
        files[f"crates/{crate}/Cargo.toml"] = package_toml(crate, deps=("abs_path",))
        files[f"crates/{crate}/src/lib.rs"] = lib_rs
        files[f"crates/{crate}/{data_name}"] = data.format(n=1)
        lines.append(f'    println!("{variant}: {{}}", {crate}::value());')
    files["crates/app/Cargo.toml"] = package_toml(
        "app", deps=tuple(crate for crate, _, _, _ in VARIANTS.values())
    )
    files["crates/app/src/main.rs"] = "fn main() {\n" + "\n".join(lines) + "\n}\n"
    write_files(root, files)


def by_variant(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)


def dep_info_files(target: Path, crate: str) -> list[Path]:
    """rustc's dep-info of crate and cargo's fingerprint copy of it."""
    debug = target / "debug"
    found = list((debug / "deps").glob(f"{crate}-*.d"))
    found += list((debug / ".fingerprint").glob(f"{crate}-*/dep-lib-{crate}"))
    return found


@pytest.fixture(scope="module")
def checkouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("depinfo")
    env = clean_env(base / "home", base / "cache")
    checkout_a = base / "checkout-a" / "ws"
    make_workspace(checkout_a)
    checkout_b = copy_checkout(checkout_a, base / "checkout-b" / "ws")
    cargo(checkout_a, "build", env=env)
    cargo(checkout_b, "build", env=env)
    first = by_variant(program_result(checkout_b / "target" / "debug" / "app"))
    dep_info = {
        variant: {
            str(path.relative_to(checkout_b)): path.read_bytes()
            for path in dep_info_files(checkout_b / "target", crate)
        }
        for variant, (crate, _, _, _) in VARIANTS.items()
    }
    for crate, data_name, data, _ in VARIANTS.values():
        (checkout_b / "crates" / crate / data_name).write_text(data.format(n=2))
    cargo(checkout_b, "build", env=env)
    edited = by_variant(program_result(checkout_b / "target" / "debug" / "app"))
    return {
        "a": checkout_a,
        "b": checkout_b,
        "first": first,
        "dep_info": dep_info,
        "edited": edited,
    }


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_restored_dep_info_names_this_checkouts_files(
    checkouts: dict[str, object], variant: str
) -> None:
    crate, data_name, _, _ = VARIANTS[variant]
    dep_info: dict[str, bytes] = checkouts["dep_info"][variant]  # type: ignore[index]
    assert checkouts["first"][variant].endswith("v1")  # type: ignore[index]
    assert any(name.endswith(".d") for name in dep_info), "test bug: no dep-info found"
    checkout_a = str(checkouts["a"]).encode()
    own_file = str(Path(str(checkouts["b"])) / "crates" / crate / data_name).encode()
    foreign = [name for name, data in dep_info.items() if checkout_a in data]
    assert not foreign, (
        f"dep-info in checkout B names checkout A ({checkout_a.decode()}): {foreign}"
    )
    # cargo's fingerprint copy stores paths relative to the package: only rustc's .d
    # names the file absolutely.
    missing = [
        name for name, data in dep_info.items() if name.endswith(".d") and own_file not in data
    ]
    assert not missing, f"dep-info in checkout B does not name {own_file.decode()}: {missing}"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_editing_the_file_in_the_second_checkout_rebuilds(
    checkouts: dict[str, object], variant: str
) -> None:
    _, data_name, _, _ = VARIANTS[variant]
    printed = checkouts["edited"][variant]  # type: ignore[index]
    assert printed.endswith("v2"), (
        f"after editing {data_name} in checkout B and building, the program prints {printed!r} "
        "(an uncached build prints the edit: v2)"
    )
