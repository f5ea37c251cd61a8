"""A random cargo workspace from a seed.

The *structure* (which crates, their dependency DAG, which crate hosts which native
library, who uses the proc-macro or the exported macro) is fixed per seed: `generate`.
The *contents* come from `params`, a flat dict of small values (a library's constant,
a C function's return value, a crate's version...) that the edits change: `render`
turns a structure and params into the files of the workspace. Rendering is a pure
function, so setting a param back to an earlier value restores the exact earlier
content of its file, which is what makes reverts hit old cache entries.

Every workspace mixes: plain libraries (some with a feature, some embedding
CARGO_MANIFEST_DIR and reading a file from it at runtime), one proc-macro crate on
the bare proc_macro API, one library exporting macro_rules! that use env!, libraries
with build scripts (code generated into OUT_DIR, rustc-env values holding OUT_DIR
paths, rustc-cfg, native C code), and the `app` package: a build script, two
binaries and an integration test. Its native code is reached every way rustc allows:
rustc-link-lib=static, #[link(kind = "static")] with only a search path,
rustc-link-lib=static:+verbatim, and rustc-link-arg with an object file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from . import templates as t

# Native libraries, one per way of handing C code to rustc, and where each mode lives:
# rustc-link-arg reaches only linked targets, so its object goes to the app package.
NATIVES = {
    "nat_linklib": "link-lib",
    "nat_attr": "link-attr",
    "nat_verbatim": "verbatim",
    "nat_linkarg": "link-arg",
    "nat_ccrs": "cc-rs",  # compiled by the real cc crate, through `buildcache cc -c`
}
# `cargo build --features` values the feature-toggling step chooses among.
FEATURE_SETS: tuple[tuple[str, ...], ...] = (
    (),
    ("app/extra",),
    ("app/loud",),
    ("app/extra", "app/loud"),
)
WORDS = ("amber", "birch", "cobalt", "dune", "ember", "fjord", "garnet", "heron", "iris")

Params = dict[str, object]


@dataclass
class Crate:
    name: str
    kind: str  # "lib", "gen" (a lib with a build script), "pmac", "app"
    deps: list[str] = field(default_factory=list)
    feature: bool = False  # has an `extra` feature gating code
    manifest_dir: bool = False  # embeds CARGO_MANIFEST_DIR, reads data/ files
    exports_macro: bool = False
    macro_from: str | None = None  # uses the exported macros of that crate
    uses_pm: bool = False
    hook: bool = False  # invokes pmac::compile_hook!() (the swap-during-compile step)
    out_dir_value: bool = False  # keeps env!("OUT_DIR") as a value
    path_in_code: bool = False  # the generated code holds a path into OUT_DIR
    path_in_env: bool = False  # reads a path into OUT_DIR from a rustc-env value
    natives: list[str] = field(default_factory=list)

    @property
    def has_build_script(self) -> bool:
        return self.kind in ("gen", "app")


@dataclass
class Spec:
    """The structure of one generated workspace."""

    seed: int
    crates: list[Crate]  # dependency order: a crate only depends on earlier ones
    bins: list[str]

    def crate(self, name: str) -> Crate:
        return next(crate for crate in self.crates if crate.name == name)

    @property
    def libraries(self) -> list[Crate]:
        return [crate for crate in self.crates if crate.kind in ("lib", "gen")]

    @property
    def hook_crate(self) -> Crate:
        return next(crate for crate in self.crates if crate.hook)

    def native_host(self, native: str) -> Crate:
        return next(crate for crate in self.crates if native in crate.natives)

    def describe(self) -> str:
        parts = []
        for crate in self.crates:
            traits = [crate.kind]
            traits += [f"deps={','.join(crate.deps)}"] if crate.deps else []
            for flag in ("feature", "manifest_dir", "exports_macro", "uses_pm", "hook"):
                traits += [flag] if getattr(crate, flag) else []
            traits += ["out_dir_value"] if crate.out_dir_value else []
            traits += ["path_in_code"] if crate.path_in_code else []
            traits += ["path_in_env"] if crate.path_in_env else []
            traits += [f"macros_from={crate.macro_from}"] if crate.macro_from else []
            traits += [f"natives={','.join(crate.natives)}"] if crate.natives else []
            parts.append(f"{crate.name}({' '.join(traits)})")
        return " ".join(parts) + f" bins={','.join(self.bins)}"


def generate(seed: int) -> Spec:
    """The workspace structure for this seed."""
    rng = random.Random(f"difftest-workspace-{seed}")
    plain = [Crate(f"lib{i}", "lib") for i in range(rng.randint(2, 4))]
    gens = [Crate(f"gen{i}", "gen") for i in range(rng.randint(1, 2))]
    libraries = plain + gens
    rng.shuffle(libraries)
    for index, crate in enumerate(libraries):
        earlier = [other.name for other in libraries[:index]]
        crate.deps = sorted(rng.sample(earlier, min(len(earlier), rng.randint(0, 2))))
    for crate in plain:
        crate.feature = rng.random() < 0.6
        crate.manifest_dir = rng.random() < 0.4
        crate.uses_pm = rng.random() < 0.5
    # Each trait at least once, so every scenario covers them all.
    for flag in ("feature", "manifest_dir", "uses_pm"):
        if not any(getattr(crate, flag) for crate in plain):
            setattr(rng.choice(plain), flag, True)
    next(crate for crate in libraries if crate.uses_pm).hook = True
    for crate in gens:
        crate.out_dir_value = rng.random() < 0.25
        crate.path_in_code = rng.random() < 0.4
        crate.path_in_env = rng.random() < 0.6
    # At least one uses OUT_DIR the usual way: only to include! generated code that holds
    # no path (its env values still do).
    if all(crate.out_dir_value or crate.path_in_code for crate in gens):
        neutral = rng.choice(gens)
        neutral.out_dir_value = neutral.path_in_code = False

    exporter = rng.choice(plain)
    exporter.exports_macro = True
    for crate in libraries[libraries.index(exporter) + 1 :]:
        if crate.kind == "lib" and rng.random() < 0.7:
            crate.macro_from = exporter.name
            crate.deps = sorted(set(crate.deps) | {exporter.name})

    for native, mode in NATIVES.items():
        if mode != "link-arg":
            rng.choice(gens).natives.append(native)
    app = Crate("app", "app", deps=[crate.name for crate in libraries], natives=["nat_linkarg"])
    app.path_in_code = True
    app.macro_from = exporter.name
    pmac = Crate("pmac", "pmac")
    bins = ["app", "tool"] if rng.random() < 0.6 else ["app"]
    return Spec(seed, [pmac, *libraries, app], bins)


def initial_params(spec: Spec) -> Params:
    rng = random.Random(f"difftest-params-{spec.seed}")
    params: Params = {"pmac.base": rng.randint(1, 99)}
    for crate in spec.crates:
        params[f"{crate.name}.version"] = 0
        if crate.kind == "lib":
            params[f"{crate.name}.base"] = rng.randint(1, 99)
        if crate.feature:
            params[f"{crate.name}.default_extra"] = rng.random() < 0.5
        if crate.manifest_dir:
            params[f"{crate.name}.runtime"] = f"{rng.choice(WORDS)}-{rng.randint(1, 99)}"
            params[f"{crate.name}.included"] = f"{rng.choice(WORDS)}-{rng.randint(1, 99)}"
        if crate.has_build_script:
            params[f"{crate.name}.const"] = rng.randint(1, 99)
            params[f"{crate.name}.word"] = rng.choice(WORDS)
        for native in crate.natives:
            params[f"{native}.value"] = rng.randint(1, 99)
    return params


def param_file(spec: Spec, param: str) -> str:
    """The workspace file whose content a param changes."""
    owner, _, what = param.partition(".")
    if owner in NATIVES:
        # cc-rs's value lives in a header the C file includes: header edits must reach it
        suffix = "h" if NATIVES[owner] == "cc-rs" else "c"
        return f"crates/{spec.native_host(owner).name}/native/{owner}.{suffix}"
    base = f"crates/{owner}"
    return {
        "version": f"{base}/Cargo.toml",
        "default_extra": f"{base}/Cargo.toml",
        "base": f"{base}/src/lib.rs",
        "runtime": f"{base}/data/runtime.txt",
        "included": f"{base}/data/included.txt",
        "const": f"{base}/build.rs",
        "word": f"{base}/build.rs",
    }[what]


def render(spec: Spec, params: Params) -> dict[str, str]:
    """Every file of the workspace, by path relative to its root."""
    files = {"Cargo.toml": t.WORKSPACE_TOML}
    for crate in spec.crates:
        base = f"crates/{crate.name}"
        if crate.kind == "pmac":
            files[f"{base}/Cargo.toml"] = t.fill(t.PMAC_TOML, version=params["pmac.version"])
            files[f"{base}/src/lib.rs"] = t.fill(t.PMAC_RS, base=params["pmac.base"])
            continue
        for native in crate.natives:
            value = params[f"{native}.value"]
            if NATIVES[native] == "cc-rs":
                files[f"{base}/native/{native}.c"] = t.fill(t.CC_RS_C, native=native)
                files[f"{base}/native/{native}.h"] = t.fill(t.CC_RS_H, native=native, value=value)
                continue
            files[f"{base}/native/{native}.c"] = t.fill(
                t.NATIVE_C, native=native, mode=NATIVES[native], value=value
            )
        if crate.has_build_script:
            files[f"{base}/build.rs"] = _build_rs(crate, params)
        if crate.kind == "app":
            files.update(_app_files(spec, crate, params))
            continue
        files[f"{base}/Cargo.toml"] = _package_toml(crate, params)
        if crate.kind == "gen":
            files[f"{base}/src/lib.rs"] = _gen_lib_rs(crate)
        else:
            files[f"{base}/src/lib.rs"] = _plain_lib_rs(crate, params)
        if crate.manifest_dir:
            files[f"{base}/data/runtime.txt"] = f"{params[f'{crate.name}.runtime']}\n"
            files[f"{base}/data/included.txt"] = f"{params[f'{crate.name}.included']}\n"
    return files


def _dependencies(crate: Crate) -> str:
    deps = list(crate.deps) + (["pmac"] if crate.uses_pm else [])
    return "".join(f'{dep} = {{ path = "../{dep}" }}\n' for dep in deps)


def _package_toml(crate: Crate, params: Params) -> str:
    features = ""
    if crate.feature:
        default = '"extra"' if params[f"{crate.name}.default_extra"] else ""
        features = f"default = [{default}]\nextra = []\n"
    toml = t.fill(
        t.PACKAGE_TOML,
        name=crate.name,
        version=params[f"{crate.name}.version"],
        package_extra='build = "build.rs"\n' if crate.has_build_script else "",
        lib_extra="",
        dependencies=_dependencies(crate),
        features=features,
    )
    if any(NATIVES[native] == "cc-rs" for native in crate.natives):
        toml += t.CC_RS_BUILD_DEPENDENCY
    return toml


def _dep_sum(crate: Crate) -> str:
    return "".join(f" + {dep}::value()" for dep in crate.deps)


def _plain_lib_rs(crate: Crate, params: Params) -> str:
    name = crate.name
    items, lines = "", ""
    if crate.feature:
        items += t.FEATURE_ITEMS
        lines += t.fill(t.FEATURE_LINES, name=name)
    if crate.uses_pm:
        items += t.PM_ITEMS
        lines += t.fill(t.PM_LINES, name=name, pm_arg=len(name) + 3)
    if crate.manifest_dir:
        lines += t.fill(t.MANIFEST_DIR_LINES, name=name)
    if crate.macro_from:
        lines += t.fill(t.MACRO_USER_LINES, name=name, from_crate=crate.macro_from)
    return t.fill(
        t.PLAIN_LIB_RS,
        name=name,
        macros=t.EXPORTED_MACROS if crate.exports_macro else "",
        base=params[f"{name}.base"],
        dep_sum=_dep_sum(crate),
        feature_bonus=t.FEATURE_BONUS if crate.feature else "",
        read_fn=t.READ_FN,
        items=items,
        lines=lines,
        hook=t.HOOK_CALL if crate.hook else "",
    )


def _native_decls(crate: Crate) -> str:
    return "".join(
        t.fill(t.LINK_ATTR_DECL if NATIVES[n] == "link-attr" else t.EXTERN_DECL, native=n)
        for n in crate.natives
    )


def _native_lines(crate: Crate) -> str:
    return "".join(t.fill(t.NATIVE_LINE, name=crate.name, native=n) for n in crate.natives)


def _gen_lib_rs(crate: Crate) -> str:
    lines = _native_lines(crate)
    if crate.path_in_env:
        lines += t.fill(t.PATH_IN_ENV_LINES, name=crate.name, env=crate.name.upper())
    if crate.path_in_code:
        lines += t.fill(t.PATH_IN_CODE_LINES, name=crate.name)
    if crate.out_dir_value:
        lines += t.fill(t.OUT_DIR_VALUE_LINES, name=crate.name)
    return t.fill(
        t.GEN_LIB_RS,
        name=crate.name,
        native_decls=_native_decls(crate),
        read_fn=t.READ_FN,
        dep_sum=_dep_sum(crate),
        env=crate.name.upper(),
        cfg=f"{crate.name}_even",
        lines=lines,
    )


def _build_rs(crate: Crate, params: Params) -> str:
    natives = "".join(t.fill(t.NATIVE_BUILD_LINES[NATIVES[n]], native=n) for n in crate.natives)
    return t.fill(
        t.BUILD_RS,
        name=crate.name,
        const=params[f"{crate.name}.const"],
        word=params[f"{crate.name}.word"],
        env=crate.name.upper(),
        cfg=f"{crate.name}_even",
        path_in_code=str(crate.path_in_code).lower(),
        natives=natives,
    )


def _app_files(spec: Spec, app: Crate, params: Params) -> dict[str, str]:
    base = "crates/app"
    bin_paths = {"app": "src/main.rs", "tool": "src/bin/tool.rs"}
    bins = "".join(t.fill(t.BIN_TOML, bin=name, path=bin_paths[name]) for name in spec.bins)
    extra = ", ".join(f'"{crate.name}/extra"' for crate in spec.libraries if crate.feature)
    summaries = "".join(f"    lines.extend({dep}::summary());\n" for dep in app.deps)
    lines = _native_lines(app)
    lines += f'    lines.push(format!("app tag={{}}", {app.macro_from}::build_tag!()));\n'
    files = {
        f"{base}/Cargo.toml": t.fill(
            t.APP_TOML,
            version=params["app.version"],
            bins=bins,
            dependencies=_dependencies(app),
            extra_features=extra,
        ),
        f"{base}/src/summary.rs": t.fill(
            t.APP_SUMMARY_RS,
            native_decls=_native_decls(app),
            read_fn=t.READ_FN,
            lib_summaries=summaries,
            lines=lines,
        ),
        f"{base}/src/main.rs": t.APP_MAIN_RS,
        f"{base}/tests/it.rs": t.IT_RS,
    }
    if "tool" in spec.bins:
        files[f"{base}/src/bin/tool.rs"] = t.TOOL_RS
    return files
