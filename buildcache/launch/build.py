"""Compiling the launch client (client.c) for one install.

What it bakes in (launch_config.h): the install's interpreter, the boot code the
Python launcher would run (launcher.py's import path), and the stem of the socket's
name, which carries a digest of all of that, the version and the client's source: two
installs, or an install and its upgrade, never share a server. The client adds the
caller's cgroup to the name (client.c, socket_path).

A C compiler is there wherever Rust builds are (rustc links through `cc`); without
one, or when it fails, launcher.py keeps the Python launcher and says why.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "client.c")
# How launcher.py tells an installed client from pip's script (client.c launch_marker).
MARKER = b"buildcache launch client; python="
COMPILE_SECONDS = 120

BOOT_TEMPLATE = """\
import sys
sys.path += {paths!r}
try:
    from buildcache.main import main
except ImportError:
    # Moved or reinstalled elsewhere: start again the ordinary way, with site.
    import os
    os.execv(sys.executable, [sys.executable, "-c",
             "import sys\\nfrom buildcache.main import main\\nsys.exit(main())", *sys.argv[1:]])
sys.exit(main())
"""


class ClientUnavailable(Exception):
    """No client for this machine: the Python launcher stays, only slower."""


def c_string(text: str) -> str:
    """text as one C string literal; octal escapes for everything but plain ASCII."""
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        char = chr(byte)
        if 0x20 <= byte < 0x7F and char not in '"\\?':
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def socket_stem(interpreter: str, paths: list[str], source: bytes) -> str:
    from buildcache import __version__

    digest = hashlib.sha256()
    for part in (interpreter, *paths, __version__):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(source)
    return f"launch-{digest.hexdigest()[:16]}"


def config_header(interpreter: str, paths: list[str], source: bytes) -> str:
    return (
        f"#define LAUNCH_PYTHON {c_string(interpreter)}\n"
        f"#define LAUNCH_BOOT {c_string(BOOT_TEMPLATE.format(paths=paths))}\n"
        f"#define LAUNCH_SOCKET_STEM {c_string(socket_stem(interpreter, paths, source))}\n"
    )


def compiler() -> str:
    for name in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if name:
            found = shutil.which(name)
            if found:
                return found
    raise ClientUnavailable("no C compiler (cc) on PATH")


def build_client(interpreter: str, paths: list[str]) -> bytes:
    """The compiled client's bytes (the same bytes for the same inputs)."""
    cc = compiler()
    try:
        with open(SOURCE, "rb") as handle:
            source = handle.read()
    except OSError as error:
        raise ClientUnavailable(f"the client's source is missing ({error})") from None
    with tempfile.TemporaryDirectory(prefix="buildcache-client-") as directory:
        with open(os.path.join(directory, "launch_config.h"), "w", encoding="utf-8") as handle:
            handle.write(config_header(interpreter, paths, source))
        output = os.path.join(directory, "buildcache")
        command = [cc, "-O2", "-Wall", "-Werror", "-I", directory, "-o", output, SOURCE]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=COMPILE_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ClientUnavailable(f"{cc} failed: {error}") from None
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise ClientUnavailable(f"{cc} failed: {' / '.join(detail)}")
        with open(output, "rb") as handle:
            return handle.read()


def client_interpreter(data: bytes) -> str | None:
    """The interpreter an installed client runs, or None when data is not a client."""
    if not data.startswith(b"\x7fELF"):
        return None
    at = data.find(MARKER)
    if at < 0:
        return None
    end = data.find(b"\0", at)
    return os.fsdecode(data[at + len(MARKER) : end])
