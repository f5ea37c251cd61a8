"""The workspaces the benchmark builds.

`crates-io`: the committed workspace under bench/workspaces/crates-io, a real
dependency graph fetched with cargo. `generated`: path crates written on the
spot, for machines that cannot reach the registry, and (tiny) for the smoke
test. Both have a proc-macro, a build script, libraries and a binary, the
crate kinds a compiler cache must handle.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
CRATES_IO_SOURCE = BENCH_DIR / "workspaces" / "crates-io"

# Downloading ~70 crates takes seconds on a good link; give a slow one room
# before deciding the registry is unreachable.
FETCH_TIMEOUT_S = 600

# Library crates in the generated workspace: "a few dozen" like the real one,
# and a handful for the smoke test so it stays well under a minute.
GENERATED_LIBS_FULL = 36
GENERATED_LIBS_QUICK = 2

# Types per generated library; each adds trait impls and generic
# instantiations, so this sets how long one crate takes to compile.
TYPES_PER_LIB = 32


@dataclass
class Workspace:
    kind: str  # "crates-io" or "generated"
    path: Path
    binary: str  # run after each build to check it behaves like the uncached one
    packages: int = 0


class WorkspaceError(Exception):
    pass


def host_triple() -> str:
    output = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    for line in output.splitlines():
        if line.startswith("host:"):
            return line.split(":", 1)[1].strip()
    raise WorkspaceError("`rustc -vV` printed no host line")


def count_packages(path: Path) -> int:
    """Packages cargo builds for this host (the lock file also lists other platforms')."""
    result = subprocess.run(
        [
            "cargo",
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--offline",
            "--filter-platform",
            host_triple(),
        ],
        cwd=path,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise WorkspaceError(f"cargo metadata failed in {path}:\n{result.stderr}")
    return len(json.loads(result.stdout)["resolve"]["nodes"])


def prepare_crates_io(destination: Path) -> Workspace:
    """Copy the committed workspace and fetch its dependencies.

    Raises WorkspaceError when `cargo fetch` fails: the registry is
    unreachable and the crates are not in cargo's local cache.
    """
    shutil.copytree(CRATES_IO_SOURCE, destination, ignore=shutil.ignore_patterns("target"))
    try:
        result = subprocess.run(
            ["cargo", "fetch", "--locked"],
            cwd=destination,
            capture_output=True,
            text=True,
            timeout=FETCH_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        raise WorkspaceError(f"cargo fetch timed out after {FETCH_TIMEOUT_S} s") from error
    if result.returncode != 0:
        raise WorkspaceError(f"cargo fetch failed:\n{result.stderr.strip()}")
    workspace = Workspace("crates-io", destination, binary="bench-cli")
    workspace.packages = count_packages(destination)
    return workspace


def prepare_generated(destination: Path, *, quick: bool) -> Workspace:
    libs = GENERATED_LIBS_QUICK if quick else GENERATED_LIBS_FULL
    for relative, text in generated_files(libs).items():
        file = destination / relative
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
    subprocess.run(
        ["cargo", "generate-lockfile", "--offline"],
        cwd=destination,
        check=True,
        capture_output=True,
    )
    workspace = Workspace("generated", destination, binary="gen_app")
    workspace.packages = count_packages(destination)
    return workspace


# --- the generated workspace -------------------------------------------------

DERIVE_LIB = """\
use proc_macro::{TokenStream, TokenTree};

/// `#[derive(Describe)]` on `struct X` gives `X::describe() -> &'static str`.
/// Written against the bare proc_macro API so the workspace builds offline.
#[proc_macro_derive(Describe)]
pub fn derive_describe(input: TokenStream) -> TokenStream {
    let mut tokens = input.into_iter();
    let mut name = String::from("Unknown");
    while let Some(token) = tokens.next() {
        if let TokenTree::Ident(ident) = &token {
            if ident.to_string() == "struct" {
                if let Some(TokenTree::Ident(found)) = tokens.next() {
                    name = found.to_string();
                }
                break;
            }
        }
    }
    format!("impl {name} {{ pub fn describe() -> &'static str {{ \\"{name}\\" }} }}")
        .parse()
        .unwrap()
}
"""

BUILD_SCRIPT = """\
use std::{env, fs, path::Path};

fn main() {
    let out_dir = env::var("OUT_DIR").unwrap();
    let values: Vec<String> = (1u64..=32).map(|n| (n * n * 7 % 101).to_string()).collect();
    let code = format!("pub const TABLE: [u64; 32] = [{}];\\n", values.join(", "));
    fs::write(Path::new(&out_dir).join("table.rs"), code).unwrap();
    println!("cargo:rerun-if-changed=build.rs");
}
"""

BUILD_LIB = """\
include!(concat!(env!("OUT_DIR"), "/table.rs"));

pub fn value() -> u64 {
    TABLE.iter().sum()
}
"""


def _lib_name(index: int) -> str:
    return f"gen_lib_{index:02d}"


def _lib_dependencies(index: int) -> list[str]:
    """A DAG a few levels deep and wide enough for two cores to overlap."""
    deps = {index - 1, index // 2} if index else set()
    deps.discard(index)
    names = [_lib_name(d) for d in sorted(deps) if d >= 0]
    if index % 4 == 0:
        names.append("gen_build")
    if index % 3 == 0:
        names.append("gen_derive")
    return names


def _manifest(name: str, deps: list[str], *, extra: str = "") -> str:
    lines = [
        "[package]",
        f'name = "{name}"',
        'version = "0.1.0"',
        'edition = "2021"',
        "publish = false",
        extra,
        "",
        "[dependencies]",
    ]
    lines += [f'{dep} = {{ path = "../{dep}" }}' for dep in deps]
    return "\n".join(lines) + "\n"


def _lib_source(index: int, deps: list[str]) -> str:
    types = ", ".join(f"T{t} => {2 * t + 3}" for t in range(TYPES_PER_LIB))
    totals = " + ".join(f"total::<T{t}>(salt)" for t in range(TYPES_PER_LIB))
    dep_sum = " + ".join(f"{dep}::value()" for dep in deps if dep != "gen_derive") or "0"
    derive = ""
    if "gen_derive" in deps:
        derive = (
            "#[derive(gen_derive::Describe)]\npub struct Marker;\n\n"
            "pub fn describe() -> &'static str {\n    Marker::describe()\n}\n\n"
        )
    return f"""\
//! Generated library {index}: enough generic code to take a moment to compile.

pub trait Mix {{
    fn mix(&self, salt: u64) -> u64;
}}

macro_rules! mixers {{
    ($($ty:ident => $mul:expr),* $(,)?) => {{
        $(
            #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
            pub struct $ty {{
                pub a: u64,
                pub b: Vec<u32>,
                pub c: Option<String>,
            }}

            impl Mix for $ty {{
                fn mix(&self, salt: u64) -> u64 {{
                    let mut acc = self.a.wrapping_mul($mul) ^ salt;
                    for (i, v) in self.b.iter().enumerate() {{
                        acc = acc.rotate_left(5) ^ (*v as u64 + i as u64);
                    }}
                    acc ^ self.c.as_ref().map_or(0, |s| s.len() as u64)
                }}
            }}
        )*
    }};
}}

mixers!({types});

fn total<M: Mix + Default + Clone + std::fmt::Debug + Ord>(salt: u64) -> u64 {{
    let mut items: Vec<M> = (0..4).map(|_| M::default()).collect();
    items.sort();
    let text = format!("{{:?}}", items.first());
    items.iter().map(|m| m.clone().mix(salt)).sum::<u64>() % 1000 + text.len() as u64
}}

{derive}pub fn value() -> u64 {{
    let salt = {index};
    ({totals}) % 10_000 + ({dep_sum}) % 10_000
}}
"""


def generated_files(libs: int) -> dict[str, str]:
    names = [_lib_name(i) for i in range(libs)]
    files = {
        "Cargo.toml": '[workspace]\nresolver = "2"\nmembers = ["crates/*"]\n',
        "crates/gen_derive/Cargo.toml": _manifest(
            "gen_derive", [], extra="\n[lib]\nproc-macro = true"
        ),
        "crates/gen_derive/src/lib.rs": DERIVE_LIB,
        "crates/gen_build/Cargo.toml": _manifest("gen_build", [], extra='build = "build.rs"'),
        "crates/gen_build/build.rs": BUILD_SCRIPT,
        "crates/gen_build/src/lib.rs": BUILD_LIB,
    }
    for index, name in enumerate(names):
        deps = _lib_dependencies(index)
        files[f"crates/{name}/Cargo.toml"] = _manifest(name, deps)
        files[f"crates/{name}/src/lib.rs"] = _lib_source(index, deps)
    app_deps = [*names, "gen_build"]
    prints = "\n".join(f'    println!("{n} {{}}", {n}::value());' for n in app_deps)
    files["crates/gen_app/Cargo.toml"] = _manifest("gen_app", app_deps)
    files["crates/gen_app/src/main.rs"] = f"fn main() {{\n{prints}\n}}\n"
    return files
