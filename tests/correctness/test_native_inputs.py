"""Class 1: native code that reaches the program must be part of the key.

A build script compiles `native/foo.c` (`int foo_value(void) { return 1; }`) into an
object, an archive or a shared library in OUT_DIR and tells cargo how to link it. The
test builds through the cache, edits the C source to `return 2;` (build.rs reruns:
`cargo:rerun-if-changed=native/foo.c`) and builds again: the program must print
`value=2`, as an uncached build does. Each variant hands the native code to rustc or
the linker a different way, none of them as a plain `-l static=foo` on the command line
of the crate being compiled:

- `link_attr_static`: `#[link(name = "foo", kind = "static")]` in the Rust source, only
  `-L native=OUT_DIR` from build.rs;
- `link_arg_*`: a file named by `cargo:rustc-link-arg` (object, archive, `-lfoo`, a
  linker script that INPUTs the object, a linker script that defines a symbol's value,
  a `-Wl,--version-script` that decides whether the program exports a symbol);
- `verbatim`, `no_bundle`: `-l static:+verbatim=libfoo.a`, `-l static:-bundle=foo`;
- `dylib_*`: `-l dylib=foo` on a versioned .so (the edit bumps the soname), on a .so
  next to an unrelated (unchanged) libfoo.a, on a libfoo.so that is a linker script;
- `rename`: `#[link(name = "foo")]` renamed on the command line, `-l static=foo:bar`
  (rustc links libbar.a);
- `static_shadowed_by_so`: `-l static=foo` with an unrelated libfoo.so in the first
  `-L` dir and the real libfoo.a in the second (rustc skips the .so);
- `rlib_via_search`: not native code but the same hole: a prebuilt Rust rlib (compiled
  by build.rs with $RUSTC from the number in foo.c) found by `extern crate prebuilt;`
  through `cargo:rustc-link-search=crate=DIR` (bin mode only: cargo does not pass
  `-L crate=` on to dependents);
- `library_path`: `-l foo` found by the linker through LIBRARY_PATH;
- `thin_archive`: `-l static=foo` on a thin archive (`ar T`), which holds its member's
  path only;
- `script_elsewhere`: `-l dylib=foo` on a libfoo.so that is a linker script naming an
  archive outside every search dir;
- `link_arg_search_*`: `-Wl,-lfoo` found in a dir named only by link arguments: `-L DIR`
  as two arguments, `-Wl,-L,DIR`, `-Wl,--library-path=DIR`.

`test_a_system_static_library_linked_into_a_dependent_is_keyed` (rlib mode only) uses
`-l static:-bundle=NAME` for a library in /usr/lib/<arch>-linux-gnu, a default dir: the
library is linked into the binary, whose command line does not name it.

Mode `bin`: the package with build.rs is the binary itself. Mode `rlib`: the package
with build.rs is a library (the native code is bundled into, or recorded in, its
rlib) and a binary in another package uses it.
"""

from __future__ import annotations

import glob
import os
import platform
import subprocess
from pathlib import Path
from typing import Callable

import pytest
from correctness_helpers import (
    WORKSPACE_TOML,
    cargo,
    clean_env,
    package_toml,
    program_result,
    write_files,
)

pytestmark = pytest.mark.cargo

BUILD_RS = r"""
use std::{env, fs, path::{Path, PathBuf}, process::Command};

const VARIANT: &str = "@VARIANT@";

fn run(cmd: &mut Command) {
    let status = cmd.status().expect("cannot spawn a native tool");
    assert!(status.success(), "{:?} failed", cmd);
}

fn number_in(text: &str) -> String {
    text.split("return").nth(1).unwrap().chars().filter(|c| c.is_ascii_digit()).collect()
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let o = out.display().to_string();
    if VARIANT == "system_no_bundle" {
        // A static library in the linker's default dirs, linked into the dependent only.
        let name = env::var("FOO_SYSTEM_NAME").unwrap();
        println!("cargo:rerun-if-env-changed=FOO_SYSTEM_NAME");
        println!("cargo:rerun-if-changed={}", env::var("FOO_SYSTEM_PATH").unwrap());
        println!("cargo:rustc-link-lib=static:-bundle={name}");
        return;
    }
    if VARIANT == "library_path" {
        // A "system" library: found by the linker through LIBRARY_PATH, like a distro's
        // libfoo.a; build.rs only tells cargo when to rerun (pkg-config style).
        let dir = env::var("FOO_LIB_DIR").unwrap();
        println!("cargo:rerun-if-env-changed=FOO_LIB_DIR");
        println!("cargo:rerun-if-changed={dir}/libfoo.a");
        println!("cargo:rustc-link-lib=foo");
        return;
    }
    println!("cargo:rerun-if-changed=native/foo.c");
    let src = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("native/foo.c");
    let text = fs::read_to_string(&src).unwrap();
    let obj = out.join("foo.o");
    run(Command::new("cc").args(["-c", "-fPIC", "-O0"]).arg(&src).arg("-o").arg(&obj));
    let archive = out.join("libfoo.a");
    let _ = fs::remove_file(&archive);
    run(Command::new("ar").arg("crsD").arg(&archive).arg(&obj));
    let search = || println!("cargo:rustc-link-search=native={o}");
    match VARIANT {
        "link_attr_static" | "link_attr_no_bundle" => search(),
        "link_arg_object" => println!("cargo:rustc-link-arg={}", obj.display()),
        "link_arg_archive" => println!("cargo:rustc-link-arg={}", archive.display()),
        "link_arg_dash_l" => {
            search();
            println!("cargo:rustc-link-arg=-lfoo");
        }
        "link_arg_script_input" => {
            fs::write(out.join("foo.ld"), format!("INPUT({})\n", obj.display())).unwrap();
            println!("cargo:rustc-link-arg={o}/foo.ld");
        }
        "link_arg_script_symbol" => {
            fs::write(out.join("sym.ld"), format!("foo_value_sym = {};\n", number_in(&text)))
                .unwrap();
            println!("cargo:rustc-link-arg={o}/sym.ld");
        }
        "link_arg_version_script" => {
            // Version 1 exports foo_exported from the executable, version 2 hides it.
            let map = if number_in(&text) == "1" {
                "{ global: foo_exported; local: *; };\n"
            } else {
                "{ local: *; };\n"
            };
            fs::write(out.join("exports.map"), map).unwrap();
            println!("cargo:rustc-link-arg=-Wl,--export-dynamic");
            println!("cargo:rustc-link-arg=-Wl,--version-script={o}/exports.map");
        }
        "verbatim" => {
            search();
            println!("cargo:rustc-link-lib=static:+verbatim=libfoo.a");
        }
        "no_bundle" => {
            search();
            println!("cargo:rustc-link-lib=static:-bundle=foo");
        }
        "dylib_soname" | "dylib_beside_static" | "link_attr_dylib_soname" => {
            let version = number_in(&text);
            for entry in fs::read_dir(&out).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                if name.starts_with("libfoo.so") {
                    fs::remove_file(&path).unwrap();
                }
            }
            let real = format!("libfoo.so.{version}");
            run(Command::new("cc")
                .args(["-shared", "-fPIC", "-O0"])
                .arg(format!("-Wl,-soname,{real}"))
                .arg(&src)
                .arg("-o")
                .arg(out.join(&real)));
            std::os::unix::fs::symlink(&real, out.join("libfoo.so")).unwrap();
            if VARIANT == "dylib_beside_static" {
                // An unrelated static library of the same name that never changes.
                let other = out.join("other.c");
                fs::write(&other, "int foo_unrelated(void) { return 0; }\n").unwrap();
                let other_obj = out.join("other.o");
                run(Command::new("cc").args(["-c", "-fPIC"]).arg(&other).arg("-o").arg(&other_obj));
                fs::remove_file(&archive).unwrap();
                run(Command::new("ar").arg("crsD").arg(&archive).arg(&other_obj));
            } else {
                fs::remove_file(&archive).unwrap();
            }
            search();
            if VARIANT != "link_attr_dylib_soname" {
                println!("cargo:rustc-link-lib=dylib=foo");
            }
        }
        "rename" => {
            fs::rename(&archive, out.join("libbar.a")).unwrap();
            search();
            println!("cargo:rustc-link-lib=static=foo:bar");
        }
        "static_shadowed_by_so" => {
            // rustc takes libfoo.a from the second dir; the first holds an unrelated,
            // never-changing libfoo.so.
            let (first, second) = (out.join("first"), out.join("second"));
            fs::create_dir_all(&first).unwrap();
            fs::create_dir_all(&second).unwrap();
            let other = out.join("other.c");
            fs::write(&other, "int foo_unrelated(void) { return 0; }\n").unwrap();
            run(Command::new("cc")
                .args(["-shared", "-fPIC"])
                .arg(&other)
                .arg("-o")
                .arg(first.join("libfoo.so")));
            fs::rename(&archive, second.join("libfoo.a")).unwrap();
            println!("cargo:rustc-link-search=native={}", first.display());
            println!("cargo:rustc-link-search=native={}", second.display());
            println!("cargo:rustc-link-lib=static=foo");
        }
        "rlib_via_search" => {
            // A prebuilt Rust library, found by `extern crate` through `-L crate=`.
            let dir = out.join("prebuilt");
            fs::create_dir_all(&dir).unwrap();
            let source = out.join("prebuilt.rs");
            let body = format!("pub fn foo_value() -> i32 {{ {} }}\n", number_in(&text));
            fs::write(&source, body).unwrap();
            run(Command::new(env::var("RUSTC").unwrap())
                .args(["--crate-type", "rlib", "--crate-name", "prebuilt", "--edition", "2021"])
                .arg("--out-dir")
                .arg(&dir)
                .arg(&source));
            println!("cargo:rustc-link-search=crate={}", dir.display());
        }
        "dylib_linker_script" => {
            let implementation = out.join("libfoo_impl.a");
            fs::rename(&archive, &implementation).unwrap();
            fs::write(out.join("libfoo.so"), format!("INPUT({})\n", implementation.display()))
                .unwrap();
            search();
            println!("cargo:rustc-link-lib=dylib=foo");
        }
        "thin_archive" => {
            // `ar T` stores the member's path, not its bytes.
            let dir = out.join("thin");
            fs::create_dir_all(&dir).unwrap();
            let _ = fs::remove_file(dir.join("libfoo.a"));
            run(Command::new("ar").arg("crsTD").arg(dir.join("libfoo.a")).arg(&obj));
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=static=foo");
        }
        "script_elsewhere" => {
            // A libfoo.so that is a linker script naming an archive outside every -L dir.
            let (dir, implementation) = (out.join("script"), out.join("impl"));
            fs::create_dir_all(&dir).unwrap();
            fs::create_dir_all(&implementation).unwrap();
            fs::rename(&archive, implementation.join("libfoo_impl.a")).unwrap();
            let input = format!("INPUT({})\n", implementation.join("libfoo_impl.a").display());
            fs::write(dir.join("libfoo.so"), input).unwrap();
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=dylib=foo");
        }
        "link_arg_search_split" | "link_arg_search_wl" | "link_arg_search_long" => {
            // A search dir named in link arguments only, in the linker's other spellings.
            let dir = out.join("sub");
            fs::create_dir_all(&dir).unwrap();
            fs::rename(&archive, dir.join("libfoo.a")).unwrap();
            let d = dir.display();
            match VARIANT {
                "link_arg_search_split" => {
                    println!("cargo:rustc-link-arg=-L");
                    println!("cargo:rustc-link-arg={d}");
                }
                "link_arg_search_wl" => println!("cargo:rustc-link-arg=-Wl,-L,{d}"),
                _ => println!("cargo:rustc-link-arg=-Wl,--library-path={d}"),
            }
            println!("cargo:rustc-link-arg=-Wl,-Bstatic,-lfoo,-Bdynamic");
        }
        other => panic!("unknown variant {other}"),
    }
}
"""

FOO_C = "int foo_value(void) {{ return {n}; }}\n"

LINK_ATTRIBUTES = {
    "link_attr_static": '#[link(name = "foo", kind = "static")]',
    "link_attr_no_bundle": '#[link(name = "foo", kind = "static", modifiers = "-bundle")]',
    "link_attr_dylib_soname": '#[link(name = "foo")]',
    "rename": '#[link(name = "foo", kind = "static")]',
}
DECLARATIONS = {
    **{
        variant: f'{attribute}\nextern "C" {{ fn foo_value() -> i32; }}\n'
        "fn native_value() -> i32 { unsafe { foo_value() } }\n"
        for variant, attribute in LINK_ATTRIBUTES.items()
    },
    "link_arg_script_symbol": 'extern "C" { static foo_value_sym: u8; }\n'
    "fn native_value() -> i32 {\n"
    "    unsafe { core::ptr::addr_of!(foo_value_sym) as usize as i32 }\n"
    "}\n",
}
DECLARATIONS["rlib_via_search"] = (
    "extern crate prebuilt;\nfn native_value() -> i32 { prebuilt::foo_value() }\n"
)
DECLARATIONS["link_arg_version_script"] = """\
extern "C" {
    fn dlsym(handle: *mut std::ffi::c_void, symbol: *const u8) -> *mut std::ffi::c_void;
}
#[no_mangle]
pub extern "C" fn foo_exported() -> i32 { 0 }
fn native_value() -> i32 {
    let name = b"foo_exported\\0".as_ptr();
    let exported = unsafe { !dlsym(std::ptr::null_mut(), name).is_null() };
    (if exported { 1 } else { 2 }) + foo_exported()
}
"""
DEFAULT_DECLARATION = (
    'extern "C" { fn foo_value() -> i32; }\nfn native_value() -> i32 { unsafe { foo_value() } }\n'
)

# (variant, mode). cargo:rustc-link-arg only reaches the package's own linked targets,
# so the link-arg variants exist in bin mode only. `no_bundle-rlib` and `dylib_soname-rlib`
# pass today (the `-l` on the library's command line puts libfoo in its key, and the
# binary follows its dependency's key): they guard against a fix that loses that.
CASES = [
    ("link_attr_static", "bin"),
    ("link_attr_static", "rlib"),
    ("link_attr_no_bundle", "bin"),
    ("link_attr_no_bundle", "rlib"),
    ("link_attr_dylib_soname", "bin"),
    ("link_attr_dylib_soname", "rlib"),
    ("link_arg_object", "bin"),
    ("link_arg_archive", "bin"),
    ("link_arg_dash_l", "bin"),
    ("link_arg_script_input", "bin"),
    ("link_arg_script_symbol", "bin"),
    ("link_arg_version_script", "bin"),
    ("verbatim", "bin"),
    ("verbatim", "rlib"),
    ("no_bundle", "rlib"),
    ("dylib_soname", "rlib"),
    ("rename", "bin"),
    ("rename", "rlib"),
    ("static_shadowed_by_so", "bin"),
    ("static_shadowed_by_so", "rlib"),
    ("dylib_beside_static", "bin"),
    ("dylib_linker_script", "bin"),
    ("dylib_linker_script", "rlib"),
    ("rlib_via_search", "bin"),
    ("library_path", "bin"),
    ("library_path", "rlib"),
    ("thin_archive", "bin"),
    ("thin_archive", "rlib"),
    ("script_elsewhere", "bin"),
    ("script_elsewhere", "rlib"),
    ("link_arg_search_split", "bin"),
    ("link_arg_search_wl", "bin"),
    ("link_arg_search_long", "bin"),
]


def make_project(root: Path, variant: str, mode: str) -> Path:
    """The workspace; returns the package dir that holds build.rs and native/foo.c."""
    build_rs = BUILD_RS.replace("@VARIANT@", variant)
    declaration = DECLARATIONS.get(variant, DEFAULT_DECLARATION)
    files = {"Cargo.toml": WORKSPACE_TOML}
    if mode == "bin":
        native_pkg = "crates/app"
        files["crates/app/Cargo.toml"] = package_toml("app", extra='build = "build.rs"')
        files["crates/app/src/main.rs"] = (
            declaration + 'fn main() { println!("value={}", native_value()); }\n'
        )
    else:
        native_pkg = "crates/nat"
        files["crates/nat/Cargo.toml"] = package_toml("nat", extra='build = "build.rs"')
        files["crates/nat/src/lib.rs"] = declaration + "pub fn value() -> i32 { native_value() }\n"
        files["crates/app/Cargo.toml"] = package_toml("app", deps=("nat",))
        files["crates/app/src/main.rs"] = 'fn main() { println!("value={}", nat::value()); }\n'
    files[f"{native_pkg}/build.rs"] = build_rs
    files[f"{native_pkg}/native/foo.c"] = FOO_C.format(n=1)
    write_files(root, files)
    return root / native_pkg


def build_system_library(source: Path, lib_dir: Path) -> None:
    """What `make install` of a C library would leave in a LIBRARY_PATH dir."""
    lib_dir.mkdir(parents=True, exist_ok=True)
    obj = lib_dir / "foo.o"
    subprocess.run(["cc", "-c", "-fPIC", str(source), "-o", str(obj)], check=True)
    archive = lib_dir / "libfoo.a"
    archive.unlink(missing_ok=True)
    subprocess.run(["ar", "crsD", str(archive), str(obj)], check=True)
    obj.unlink()


def program_env(root: Path, env: dict[str, str], target: str = "target") -> dict[str, str]:
    """Where the program finds a shared libfoo at run time (cargo run does the same)."""
    out_dirs = glob.glob(str(root / target / "debug" / "build" / "*" / "out"))
    return {**env, "LD_LIBRARY_PATH": os.pathsep.join(out_dirs)}


@pytest.mark.parametrize(("variant", "mode"), CASES, ids=[f"{v}-{m}" for v, m in CASES])
def test_editing_the_c_source_changes_the_cached_program(
    tmp_path: Path, variant: str, mode: str
) -> None:
    root = tmp_path / "ws"
    native_pkg = make_project(root, variant, mode)
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    foo_c = native_pkg / "native" / "foo.c"
    if variant == "library_path":
        lib_dir = tmp_path / "syslib"
        env.update(LIBRARY_PATH=str(lib_dir), FOO_LIB_DIR=str(lib_dir))
        build_system_library(foo_c, lib_dir)
    _edit_and_rebuild(root, env, foo_c, variant, tmp_path / "syslib")


# A dir the compiler driver passes to the linker by default (rust-lld has no default dirs
# of its own, so /usr/local/lib would not do).
SYSTEM_LIB_DIR = Path(f"/usr/lib/{platform.machine()}-linux-gnu")


@pytest.mark.skipif(
    not os.access(SYSTEM_LIB_DIR, os.W_OK), reason=f"needs to write a library to {SYSTEM_LIB_DIR}"
)
def test_a_system_static_library_linked_into_a_dependent_is_keyed(tmp_path: Path) -> None:
    """`-l static:-bundle=NAME` leaves the library out of the rlib; rustc links it into
    the binary from the linker's default dirs, which no command line names. The library
    has a name of its own, removed afterwards."""
    root = tmp_path / "ws"
    native_pkg = make_project(root, "system_no_bundle", "rlib")
    name = f"bctest{os.getpid()}{os.urandom(4).hex()}"
    installed = SYSTEM_LIB_DIR / f"lib{name}.a"
    env = clean_env(
        tmp_path / "home", tmp_path / "cache", FOO_SYSTEM_NAME=name, FOO_SYSTEM_PATH=str(installed)
    )
    staging = tmp_path / "staging"

    def install(source: Path) -> None:
        build_system_library(source, staging)
        installed.write_bytes((staging / "libfoo.a").read_bytes())

    try:
        install(native_pkg / "native" / "foo.c")
        _edit_and_rebuild(root, env, native_pkg / "native" / "foo.c", "system", staging, install)
    finally:
        installed.unlink(missing_ok=True)


def _edit_and_rebuild(
    root: Path,
    env: dict[str, str],
    foo_c: Path,
    variant: str,
    lib_dir: Path,
    install: Callable[[Path], None] | None = None,
) -> None:
    cargo(root, "build", env=env)
    binary = root / "target" / "debug" / "app"
    assert program_result(binary, program_env(root, env)) == "value=1\n"

    foo_c.write_text(FOO_C.format(n=2))
    if variant == "library_path":
        build_system_library(foo_c, lib_dir)
    if install is not None:
        install(foo_c)
    cargo(root, "build", env=env)
    cached = program_result(binary, program_env(root, env))
    if cached != "value=2\n":
        cargo(root, "build", "--target-dir", "target-uncached", env=env, cached=False)
        uncached = program_result(
            root / "target-uncached" / "debug" / "app",
            program_env(root, env, "target-uncached"),
        )
        assert uncached == "value=2\n", f"test bug: the uncached build prints {uncached!r}"
        raise AssertionError(
            f"after editing foo.c the cached build prints {cached!r}, "
            f"an uncached build {uncached!r}: native code is outside the key"
        )
