"""The launch client and server (buildcache/launch/): a call served by a server's child
behaves as the same call in a process of its own, and a call the server cannot serve
exactly runs the ordinary way.

Which way a compile ran is read off the compiler itself: a stand-in for rustc records
its parent's command line (the server's child carries the server's), its working
directory, umask, open descriptors and environment, then runs the real rustc."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from buildcache.launch import control
from buildcache.launch.build import client_interpreter
from buildcache.launch.control import process_state
from buildcache.launch.request import MAGIC, BadRequest, parse

SERVER_WORDS = "buildcache.launch.server"
FALLBACK_WORDS = " -IS -c "

FAKE_RUSTC = """#!/bin/sh
case " $* " in
  *" --crate-name "*)
    {{
      printf 'parent=%s\\n' "$(tr '\\0\\n' '  ' < /proc/$PPID/cmdline)"
      printf 'cwd=%s\\n' "$(pwd)"
      printf 'umask=%s\\n' "$(umask)"
      printf 'fds=%s\\n' "$(ls /proc/$$/fd | sort -n | tr '\\n' ' ')"
      printf 'launch_var=%s\\n' "${{BUILDCACHE_LAUNCH_SOCKET-unset}}"
      printf 'pid=%s\\n' "$$"
      printf 'signals=%s\\n' "$(grep -E '^Sig(Blk|Ign)' /proc/$$/status | tr '\\n\\t' '  ')"
      printf 'context=%s nice=%s nofile=%s %s\\n' "$(ionice -p $$)" \\
        "$(cut -d' ' -f19 /proc/$$/stat)" "$(ulimit -Hn)" \\
        "$(grep -E '^(Cap|Cpus_allowed_list)' /proc/$$/status | tr '\\n\\t' '  ')"
      echo started
    }} >> "$FAKE_LOG"
    if [ -n "$FAKE_SLEEP" ]; then
      trap 'echo got-INT >> "$FAKE_LOG"; exit 130' INT
      sleep "$FAKE_SLEEP" & wait
    fi
    ;;
  *) printf 'parent=%s\\n' "$(tr '\\0\\n' '  ' < /proc/$PPID/cmdline)" >> "$FAKE_LOG.probes"
     printf 'lc_ctype=%s\\n' "${{LC_CTYPE-unset}}" >> "$FAKE_LOG.probes" ;;
esac
exec {rustc} "$@"
"""


def installed_client() -> str:
    path = shutil.which("buildcache")
    assert path, "buildcache is not on PATH"
    with open(os.path.realpath(path), "rb") as handle:
        data = handle.read()
    assert client_interpreter(data), f"{path} is not the launch client (make dev builds it)"
    return path


@pytest.fixture
def launch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A private runtime dir (short: a socket path has 108 bytes), a crate, a stand-in
    rustc, and an environment; every server started here is stopped afterwards."""
    installed_client()
    runtime = Path(tempfile.mkdtemp(prefix="bl", dir="/tmp"))
    rustc = subprocess.check_output(["rustup", "which", "rustc"], text=True).strip()
    fake = tmp_path / "fake-rustc"
    fake.write_text(FAKE_RUSTC.format(rustc=rustc))
    fake.chmod(0o755)
    crate = tmp_path / "crate"
    (crate / "src").mkdir(parents=True)
    (crate / "src" / "lib.rs").write_text("pub fn answer() -> u32 { 42 }\n")
    env = dict(os.environ)
    env.update(
        XDG_RUNTIME_DIR=str(runtime),
        BUILDCACHE_DIR=str(tmp_path / "cache"),
        FAKE_LOG=str(tmp_path / "fake.log"),
    )
    env.pop("BUILDCACHE_LAUNCH_SERVER", None)

    class Launch:
        pass

    state = Launch()
    state.runtime = runtime / "buildcache"  # type: ignore[attr-defined]
    state.fake = fake  # type: ignore[attr-defined]
    state.crate = crate  # type: ignore[attr-defined]
    state.env = env  # type: ignore[attr-defined]
    state.log = tmp_path / "fake.log"  # type: ignore[attr-defined]
    state.out = tmp_path / "out"  # type: ignore[attr-defined]
    state.out.mkdir()
    yield state
    control.stop_servers(str(runtime / "buildcache"))
    shutil.rmtree(runtime, ignore_errors=True)


def compile_command(state, name: str = "answer") -> list[str]:  # type: ignore[no-untyped-def]
    return [
        "buildcache",
        str(state.fake),
        "--crate-name",
        name,
        "--crate-type",
        "lib",
        "--edition",
        "2021",
        "--emit=dep-info,metadata,link",
        "--out-dir",
        str(state.out),
        str(state.crate / "src" / "lib.rs"),
    ]


def records(state) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """The stand-in's record of each compile it ran, oldest first."""
    found, current = [], {}
    for line in state.log.read_text().splitlines():
        if line == "started":
            found.append(current)
            current = {}
        else:
            key, _, value = line.partition("=")
            current[key] = value
    return found


def wait_for_server(state, timeout: float = 10.0) -> int:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        servers = control.running_servers(str(state.runtime))
        if servers and all(os.path.exists(path) for path in servers):
            return next(iter(servers.values()))
        time.sleep(0.05)
    raise AssertionError("no launch server started")


def run(state, command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {**state.env, **kwargs.pop("env", {})}
    return subprocess.run(
        command, env=env, cwd=state.crate, capture_output=True, text=True, timeout=120, **kwargs
    )


def served_compile(state, name: str = "answer", **kwargs) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Start the server with a first call, then compile through it (a miss each time:
    the crate name is new); the stand-in's record of that compile."""
    run(state, ["buildcache", str(state.fake), "-vV"])
    wait_for_server(state)
    result = run(state, compile_command(state, name), **kwargs)
    assert result.returncode == 0, result.stderr
    return records(state)[-1]


def slow_compile(state, seconds: int = 60, **kwargs) -> tuple[subprocess.Popen[bytes], int]:  # type: ignore[no-untyped-def]
    """A served compile that runs for `seconds`: its client, and the compiler's pid
    once it has started."""
    run(state, ["buildcache", str(state.fake), "-vV"])
    wait_for_server(state)
    env = {**state.env, "FAKE_SLEEP": str(seconds)}
    client = subprocess.Popen(compile_command(state), env=env, cwd=state.crate, **kwargs)
    deadline = time.monotonic() + 30
    while not (state.log.exists() and "started" in state.log.read_text()):
        assert time.monotonic() < deadline, "the compiler never started"
        time.sleep(0.05)
    return client, int(records(state)[-1]["pid"])


def wait_until(condition, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_compile_runs_in_a_servers_child_as_the_client_would(launch) -> None:  # type: ignore[no-untyped-def]
    record = served_compile(launch, umask=0o027)
    assert SERVER_WORDS in record["parent"], record
    assert record["cwd"] == str(launch.crate)
    assert record["umask"] == "0027"
    assert record["launch_var"] == "unset"
    assert (launch.out / "libanswer.rlib").is_file()


def cargo_like_signals() -> None:
    """A caller that blocks one signal and ignores another (nohup ignores SIGHUP)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def test_the_compiler_gets_the_clients_descriptors_and_signal_state(launch) -> None:  # type: ignore[no-untyped-def]
    """The same descriptor numbers, blocked and ignored signals as when the call runs
    in a Python of its own (the shell's own descriptors are the same both times)."""
    read_end, write_end = os.pipe()
    try:
        os.set_inheritable(write_end, True)
        served = served_compile(
            launch, "served", pass_fds=(write_end,), preexec_fn=cargo_like_signals
        )
        ordinary = run(
            launch,
            compile_command(launch, "ordinary"),
            pass_fds=(write_end,),
            preexec_fn=cargo_like_signals,
            env={"BUILDCACHE_LAUNCH_SERVER": "0"},
        )
        assert ordinary.returncode == 0, ordinary.stderr
    finally:
        os.close(read_end)
        os.close(write_end)
    alone = records(launch)[-1]
    assert SERVER_WORDS in served["parent"] and FALLBACK_WORDS in alone["parent"]
    assert str(write_end) in served["fds"].split()
    assert served["fds"] == alone["fds"], (served, alone)
    assert served["signals"] == alone["signals"], (served, alone)


def test_a_killed_client_takes_its_compile_with_it(launch) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL cannot be forwarded: a compile left running would write into the target
    dir after its build is gone, over what a later build put there."""
    client, compiler = slow_compile(launch)
    client.kill()
    client.wait(timeout=10)
    wait_until(lambda: not control._alive(compiler), "the compile outlived its client")


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_ends_the_call_for_good(launch, number: int) -> None:  # type: ignore[no-untyped-def]
    """`timeout`, a CI cancel or a closed terminal: the compiler dies of the signal and
    the call dies of it too, as the Python launcher would. Never run again: cargo may
    be gone, and a compile of the old sources that outlived it would land in the
    target dir after the next build (the red team's finding: the child's death read
    as "died without an answer" and the call started over)."""
    client, compiler = slow_compile(launch)
    client.send_signal(number)
    assert client.wait(timeout=20) == -number
    wait_until(lambda: not control._alive(compiler), "the compile outlived its call")
    time.sleep(1.0)
    assert len(records(launch)) == 1, "the call ran again"


def test_ctrl_z_stops_the_compile_with_the_call(launch) -> None:  # type: ignore[no-untyped-def]
    """The compiler runs in the server's session, out of the terminal's job control:
    a suspended build must not go on writing into the target dir."""
    client, compiler = slow_compile(launch)
    client.send_signal(signal.SIGTSTP)
    wait_until(lambda: process_state(client.pid) == "T", "the call did not stop")
    wait_until(lambda: process_state(compiler) == "T", "the compiler did not stop")
    client.send_signal(signal.SIGCONT)
    wait_until(lambda: process_state(compiler) not in ("T", ""), "the compiler did not go on")
    client.send_signal(signal.SIGINT)
    assert client.wait(timeout=20) == 130


def status_field(pid: int | str, name: str) -> str:
    """A field of /proc/PID/status (PID may be PID/task/TID)."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(f"{name}:"):
                return line.split()[1]
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def test_a_ctrl_c_that_comes_while_the_compile_is_stopped_ends_the_call(launch) -> None:  # type: ignore[no-untyped-def]
    """A signal that comes while the child is stopped, or continued but not yet running
    again (a busy machine, right after Ctrl-Z and fg), goes to whichever of its threads
    runs first. Python runs handlers in the main thread only: taken by the thread that
    watches the connection, the Ctrl-C never interrupts the main thread's wait on the
    compiler's pipes, and the call goes on until they close (the stand-in's sleep holds
    them for a minute). The test stops the child's group itself, as the server's poll
    can just after the client continued it; which thread wins is the kernel's choice,
    so the masks are checked first."""
    client, compiler = slow_compile(launch)
    child = int(status_field(compiler, "PPid"))
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
    for thread in os.listdir(f"/proc/{child}/task"):
        if int(thread) != child:
            blocked = int(status_field(f"{child}/task/{thread}", "SigBlk"), 16)
            assert all(blocked >> (number - 1) & 1 for number in forwarded), thread
    os.killpg(child, signal.SIGSTOP)
    wait_until(lambda: process_state(child) == "T", "the child did not stop")
    client.send_signal(signal.SIGINT)
    wait_until(
        lambda: int(status_field(child, "ShdPnd"), 16) >> (signal.SIGINT - 1) & 1,
        "the Ctrl-C was not forwarded",
    )
    os.killpg(child, signal.SIGCONT)
    assert client.wait(timeout=20) == 130


def test_a_signal_the_caller_ignores_stays_ignored(launch) -> None:  # type: ignore[no-untyped-def]
    client, _ = slow_compile(launch, seconds=2, preexec_fn=cargo_like_signals)
    client.send_signal(signal.SIGHUP)
    assert client.wait(timeout=30) == 0
    assert SERVER_WORDS in records(launch)[-1]["parent"]


def test_a_call_the_cache_stays_out_of_is_handed_back_to_the_client(launch) -> None:  # type: ignore[no-untyped-def]
    run(launch, ["buildcache", str(launch.fake), "-vV"])
    wait_for_server(launch)
    probes = Path(f"{launch.log}.probes")
    probes.unlink()
    result = run(launch, ["buildcache", str(launch.fake), "-vV"])
    assert result.returncode == 0 and result.stdout.startswith("rustc "), result
    # exec'd by the client itself: its parent is this test, not a server's child
    parent = probes.read_text()
    assert SERVER_WORDS not in parent and FALLBACK_WORDS not in parent, parent
    assert "pytest" in parent, parent


def test_a_handed_back_compiler_sees_the_locale_the_python_launcher_exports(launch) -> None:  # type: ignore[no-untyped-def]
    """Python coerces a C locale to C.UTF-8 in its environment (PEP 538), which the
    Python launcher's exec of rustc passes on: a compiler the client execs gets it too."""
    probes = Path(f"{launch.log}.probes")
    c_locale = {"LC_ALL": "", "LC_CTYPE": "", "LANG": "C"}
    seen = {}
    for way, switch in (("ordinary", "0"), ("served", "1")):
        run(launch, ["buildcache", str(launch.fake), "-vV"])  # starts the server
        wait_for_server(launch)
        probes.unlink()
        env = {**c_locale, "BUILDCACHE_LAUNCH_SERVER": switch}
        result = run(launch, ["buildcache", str(launch.fake), "-vV"], env=env)
        assert result.returncode == 0, result.stderr
        seen[way] = probes.read_text()
    assert "pytest" in seen["served"]  # exec'd by the client: the test is its parent
    lines = {way: text.splitlines()[-1] for way, text in seen.items()}
    assert lines["ordinary"] == lines["served"] == "lc_ctype=C.UTF-8", seen


def test_the_first_call_goes_the_ordinary_way_and_starts_a_server(launch) -> None:  # type: ignore[no-untyped-def]
    assert control.running_servers(str(launch.runtime)) == {}
    result = run(launch, compile_command(launch))
    assert result.returncode == 0, result.stderr
    assert FALLBACK_WORDS in records(launch)[-1]["parent"]
    assert records(launch)[-1]["launch_var"] == "unset"  # popped before rustc ran
    wait_for_server(launch)


def test_a_failing_compile_reports_its_exit_code_and_diagnostics(launch) -> None:  # type: ignore[no-untyped-def]
    run(launch, ["buildcache", str(launch.fake), "-vV"])
    wait_for_server(launch)
    (launch.crate / "src" / "lib.rs").write_text('pub fn answer() -> u32 { "no" }\n')
    result = run(launch, compile_command(launch))
    assert result.returncode == 1, result
    assert "mismatched types" in result.stderr
    assert SERVER_WORDS in records(launch)[-1]["parent"]


def test_ctrl_c_reaches_the_compiler_in_the_servers_child(launch) -> None:  # type: ignore[no-untyped-def]
    client, _ = slow_compile(launch, stderr=subprocess.PIPE)
    client.send_signal(signal.SIGINT)
    assert client.wait(timeout=20) == 130
    # The compiler's own handler may still be writing when the call has ended (as when
    # the Python launcher runs it: it too ends at KeyboardInterrupt, without waiting).
    wait_until(lambda: "got-INT" in launch.log.read_text(), "the compiler got no SIGINT")
    assert SERVER_WORDS in records(launch)[-1]["parent"]


def test_the_call_log_keeps_the_callers_time_zone(launch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The server starts with an empty environment (TZ unset); a served call's local
    times are the caller's, as in a process of its own."""
    log = tmp_path / "calls.log"
    zone = {"TZ": "BCT-11", "BUILDCACHE_LOG": str(log)}  # UTC+11, far from most machines'
    record = served_compile(launch, env=zone)
    assert SERVER_WORDS in record["parent"], record
    stamp = log.read_text().splitlines()[-1].split("\t")[0]
    logged = time.strptime(stamp.split(".")[0], "%Y-%m-%dT%H:%M:%S")
    expected = time.gmtime(time.time() + 11 * 3600)
    assert abs(time.mktime(logged) - time.mktime(expected)) < 120, (stamp, expected)


def test_a_non_utf8_locale_runs_the_ordinary_way(launch) -> None:  # type: ignore[no-untyped-def]
    record = served_compile(launch, env={"LC_ALL": "en_US.ISO-8859-1"})
    assert FALLBACK_WORDS in record["parent"], record


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root")
def test_a_client_in_another_mount_namespace_runs_the_ordinary_way(launch) -> None:  # type: ignore[no-untyped-def]
    run(launch, ["buildcache", str(launch.fake), "-vV"])
    wait_for_server(launch)
    result = run(launch, ["unshare", "--mount", *compile_command(launch)])
    assert result.returncode == 0, result.stderr
    assert FALLBACK_WORDS in records(launch)[-1]["parent"]


def no_new_privileges() -> None:
    """What a sandbox does before it installs a seccomp filter (bwrap, systemd-run)."""
    import ctypes

    pr_set_no_new_privs = 38
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) == 0


def test_a_sandboxed_client_runs_the_ordinary_way(launch) -> None:  # type: ignore[no-untyped-def]
    """A compile confined by its caller (no-new-privileges, seccomp) must not run in
    a server outside that confinement; the server itself stays for everyone else."""
    run(launch, ["buildcache", str(launch.fake), "-vV"])
    server = wait_for_server(launch)
    result = run(launch, compile_command(launch), preexec_fn=no_new_privileges)
    assert result.returncode == 0, result.stderr
    record = records(launch)[-1]
    assert FALLBACK_WORDS in record["parent"], record
    assert control._alive(server)


def landlocked(writable: list[str]):  # type: ignore[no-untyped-def]
    """A preexec_fn that confines the process as a sandboxing tool would with Landlock:
    no-new-privileges, then a ruleset that lets it read everything and write only
    beneath `writable`. None where the kernel has no Landlock."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    create, add_rule, restrict = 444, 445, 446  # the same numbers on every architecture
    abi = libc.syscall(create, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        return None
    every_access = (1 << 13) - 1  # the file system accesses of Landlock's first ABI
    if abi >= 2:
        every_access |= 1 << 13  # REFER: rename across directories (rustc's outputs)
    if abi >= 3:
        every_access |= 1 << 14  # TRUNCATE
    read_only = (1 << 0) | (1 << 2) | (1 << 3)  # execute, read a file, read a directory

    class Ruleset(ctypes.Structure):
        _fields_ = [("handled_access_fs", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    def confine() -> None:
        ruleset = Ruleset(every_access)
        fd = libc.syscall(create, ctypes.byref(ruleset), ctypes.sizeof(ruleset), 0)
        assert fd >= 0
        for path, access in [("/", read_only), ("/dev", every_access)] + [
            (path, every_access) for path in writable
        ]:
            beneath = os.open(path, os.O_PATH | os.O_CLOEXEC)
            rule = PathBeneath(access, beneath)
            assert libc.syscall(add_rule, fd, 1, ctypes.byref(rule), 0) == 0
            os.close(beneath)
        no_new_privileges()
        assert libc.syscall(restrict, fd, 0) == 0
        os.close(fd)

    return confine


def test_a_landlocked_client_is_not_served_outside_its_sandbox(launch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Landlock shows in neither /proc/PID/status nor the security label, so a sandboxed
    build looks like any other with no-new-privileges (the red team's finding: a proc-macro
    wrote outside its sandbox through a server started by an unconfined build). The
    client checks that it can see its child as itself; a sandbox denies that."""
    confine = landlocked([str(tmp_path), str(launch.runtime.parent)])
    if confine is None:
        pytest.skip("the kernel has no Landlock")
    run(launch, ["buildcache", str(launch.fake), "-vV"], preexec_fn=no_new_privileges)
    server = wait_for_server(launch)
    result = run(launch, compile_command(launch), preexec_fn=confine)
    assert result.returncode == 0, result.stderr
    record = records(launch)[-1]
    assert FALLBACK_WORDS in record["parent"], record
    # The same call from outside the sandbox is served by that server.
    served = run(launch, compile_command(launch, "outside"), preexec_fn=no_new_privileges)
    assert served.returncode == 0, served.stderr
    assert SERVER_WORDS in records(launch)[-1]["parent"]
    assert server in control.running_servers(str(launch.runtime)).values()


def test_a_stopped_build_stops_its_compile(launch) -> None:  # type: ignore[no-untyped-def]
    """SIGSTOP to cargo's group cannot be caught: the server, which the build never stops,
    sees its client stopped and stops the compile with it, then continues it."""
    client, compiler = slow_compile(launch)
    os.kill(client.pid, signal.SIGSTOP)
    wait_until(lambda: process_state(compiler) == "T", "the compiler did not stop")
    os.kill(client.pid, signal.SIGCONT)
    wait_until(lambda: process_state(compiler) not in ("T", ""), "the compiler did not go on")
    client.send_signal(signal.SIGINT)
    assert client.wait(timeout=20) == 130


def test_a_child_that_dies_while_its_server_is_stopped_does_not_hold_up_the_call(launch) -> None:  # type: ignore[no-untyped-def]
    """The server keeps a copy of each connection (watch.py), so the connection's end no
    longer says the child died; the client watches the child itself (a pidfd), or a
    stopped or stuck server would keep the call waiting."""
    client, compiler = slow_compile(launch, seconds=3)
    server = wait_for_server(launch)
    with open(f"/proc/{compiler}/stat", "rb") as handle:
        child = int(handle.read().rpartition(b")")[2].split()[1])  # the compiler's parent
    os.kill(server, signal.SIGSTOP)
    try:
        os.kill(child, signal.SIGKILL)  # as the OOM killer would
        assert client.wait(timeout=30) == 0
    finally:
        os.kill(server, signal.SIGCONT)
    assert FALLBACK_WORDS in records(launch)[-1]["parent"], "the call did not run again"


def test_a_build_killed_while_stopped_leaves_no_compile(launch) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-Z, then `kill -9 %1`: the child's own watcher is stopped with it, so the
    server kills the stopped group (the red team's finding: a stopped compile holding a
    lock hung every later build)."""
    client, compiler = slow_compile(launch)
    client.send_signal(signal.SIGTSTP)
    wait_until(lambda: process_state(compiler) == "T", "the compiler did not stop")
    client.kill()
    client.wait(timeout=10)
    wait_until(lambda: not control._alive(compiler), "the stopped compile outlived its build")


# Commands that start a build in a context a server's children would not inherit
# from their caller: each such caller must get a server of its own (client.c,
# context_digest), whose children run as the caller's own would.
CONTEXTS = {
    "ionice": ["ionice", "-c3"],
    "nice": ["nice", "-n", "7"],
    "taskset": ["taskset", "-c", "0"],
    "lower hard rlimit": ["prlimit", "--nofile=512:512", "--"],
    "no capabilities": ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"],
}


@pytest.mark.parametrize("context", sorted(CONTEXTS))
def test_a_caller_in_another_context_gets_a_server_like_it(launch, context: str) -> None:  # type: ignore[no-untyped-def]
    """The red team's findings: I/O priority and capabilities were the server's, not
    the caller's. The compiler of a served call runs in the caller's context, exactly
    as the ordinary launcher's does, and the server others use stays."""
    wrapper = CONTEXTS[context]
    if not shutil.which(wrapper[0]):
        pytest.skip(f"{wrapper[0]} is not installed (util-linux)")
    if context == "taskset" and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs to narrow to one")
    if context == "no capabilities" and os.geteuid() != 0:
        pytest.skip("dropping the bounding set needs root")
    run(launch, ["buildcache", str(launch.fake), "-vV"])
    plain = wait_for_server(launch)
    ordinary = run(
        launch,
        [*wrapper, *compile_command(launch, "ordinary")],
        env={"BUILDCACHE_LAUNCH_SERVER": "0"},
    )
    assert ordinary.returncode == 0, ordinary.stderr
    result = run(launch, [*wrapper, *compile_command(launch, "first")])
    assert result.returncode == 0, result.stderr

    def two_servers_listening() -> bool:
        servers = control.running_servers(str(launch.runtime))
        return len(servers) == 2 and all(os.path.exists(path) for path in servers)

    wait_until(two_servers_listening, "the first call started no server for its context")
    result = run(launch, [*wrapper, *compile_command(launch, "served")])
    assert result.returncode == 0, result.stderr
    alone, served = records(launch)[0], records(launch)[-1]
    assert FALLBACK_WORDS in alone["parent"] and SERVER_WORDS in served["parent"], served
    assert served["context"] == alone["context"], (served, alone)
    plain_context = served_compile(launch, "plain")["context"]
    assert plain_context != alone["context"], "the wrapper changed nothing the test sees"
    assert plain in control.running_servers(str(launch.runtime)).values()


def new_cgroup() -> Path | None:
    """A fresh cgroup this test may move processes into (root, cgroup v1 or v2)."""
    for hierarchy in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        group = Path(hierarchy) / f"buildcache-test-{os.getpid()}"
        try:
            group.mkdir()
        except OSError:
            continue
        if (group / "cgroup.procs").exists():
            return group
        group.rmdir()
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="moving a process to a new cgroup needs root")
def test_each_cgroup_gets_a_server_of_its_own(launch) -> None:  # type: ignore[no-untyped-def]
    """An editor's `cargo check` and a terminal's build often run in cgroups of their
    own (systemd scopes). A server's children run in the server's cgroup, so each
    cgroup is served by its own server; one shared server would be refused and
    retired call after call as the two builds alternate."""
    group = new_cgroup()
    if group is None:
        pytest.skip("no cgroup hierarchy to create a group in")
    procs = group / "cgroup.procs"

    def move_in() -> None:
        procs.write_text(str(os.getpid()))

    try:
        run(launch, ["buildcache", str(launch.fake), "-vV"])
        outside = wait_for_server(launch)
        for name in ("inside_first", "inside_second"):
            result = run(launch, compile_command(launch, name), preexec_fn=move_in)
            assert result.returncode == 0, result.stderr
        assert SERVER_WORDS in records(launch)[-1]["parent"]  # the second: served
        result = run(launch, compile_command(launch, "outside"))
        assert result.returncode == 0, result.stderr
        assert SERVER_WORDS in records(launch)[-1]["parent"]
        servers = control.running_servers(str(launch.runtime))
        assert len(servers) == 2 and outside in servers.values(), servers
        (inside,) = set(servers.values()) - {outside}
        assert group.name in Path(f"/proc/{inside}/cgroup").read_text()
    finally:
        control.stop_servers(str(launch.runtime))
        deadline = time.monotonic() + 10
        while procs.read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.05)
        group.rmdir()


def installed_package() -> str:
    """The installed package's directory, as the server sees it (not this checkout's)."""
    site = client_interpreter(Path(installed_client()).resolve().read_bytes())
    assert site
    return subprocess.check_output(
        [site, "-I", "-c", "import buildcache, os; print(os.path.dirname(buildcache.__file__))"],
        text=True,
    ).strip()


def assert_retired_for_new_code(launch, old: int) -> None:  # type: ignore[no-untyped-def]
    """The next call runs the ordinary way (the new code), the old server exits and
    a new one starts."""
    result = run(launch, compile_command(launch))
    assert result.returncode == 0, result.stderr
    assert FALLBACK_WORDS in records(launch)[-1]["parent"]
    wait_until(lambda: not control._alive(old), "the old server is still running")
    assert wait_for_server(launch) != old


def test_an_upgrade_retires_the_server(launch) -> None:  # type: ignore[no-untyped-def]
    run(launch, ["buildcache", str(launch.fake), "-vV"])
    old = wait_for_server(launch)
    now = time.time()
    os.utime(os.path.join(installed_package(), "launch"), (now, now))
    assert_retired_for_new_code(launch, old)


def test_a_module_overwritten_in_place_retires_the_server(launch) -> None:  # type: ignore[no-untyped-def]
    """`cp` over an installed file or a hot fix keeps its inode and its directory's
    mtime: the file's own size and times say it changed (the red team's finding)."""
    run(launch, ["buildcache", str(launch.fake), "-vV"])
    old = wait_for_server(launch)
    module = os.path.join(installed_package(), "launch", "request.py")
    size = os.path.getsize(module)
    try:
        with open(module, "ab") as handle:
            handle.write(b"# overwritten in place\n")
        assert_retired_for_new_code(launch, old)
    finally:
        os.truncate(module, size)


def test_a_stopped_server_does_not_hold_up_the_build(launch) -> None:  # type: ignore[no-untyped-def]
    """A server that cannot fork a child in time (stopped, or stuck on a hung file
    system) must not hang the build: the call runs the ordinary way after a few
    seconds, the later calls start a new server, and the stopped server's late child
    runs nothing (the client never said go)."""
    run(launch, ["buildcache", str(launch.fake), "-vV"])
    server = wait_for_server(launch)
    os.kill(server, signal.SIGSTOP)
    try:
        started = time.monotonic()
        result = run(launch, compile_command(launch))
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 30
        assert FALLBACK_WORDS in records(launch)[-1]["parent"]
        assert not any(launch.runtime.glob("launch-*.sock")), "later calls would wait too"
    finally:
        os.kill(server, signal.SIGCONT)
    time.sleep(2.0)  # the server accepts the connection that waited in its queue
    assert len(records(launch)) == 1, "the late child ran the call a second time"


def test_a_runtime_dir_others_can_open_is_not_used(launch) -> None:  # type: ignore[no-untyped-def]
    launch.runtime.mkdir(mode=0o700)
    launch.runtime.chmod(0o755)
    result = run(launch, compile_command(launch))
    assert result.returncode == 0, result.stderr
    time.sleep(0.5)
    assert control.running_servers(str(launch.runtime)) == {}
    assert not list(launch.runtime.glob("launch-*.sock"))


@pytest.mark.parametrize("word", ["0", "off", " False ", "NO"])
def test_the_switch_turns_the_server_off(launch, word: str) -> None:  # type: ignore[no-untyped-def]
    """The words the configuration reads as off (config.parse_bool), read by the client."""
    for _ in range(2):
        result = run(launch, compile_command(launch), env={"BUILDCACHE_LAUNCH_SERVER": word})
        assert result.returncode == 0, result.stderr
    time.sleep(0.5)
    assert control.running_servers(str(launch.runtime)) == {}
    assert all(FALLBACK_WORDS in record["parent"] for record in records(launch))


def test_a_switch_word_it_does_not_know_is_named_and_the_build_goes_on(launch) -> None:  # type: ignore[no-untyped-def]
    result = run(launch, compile_command(launch), env={"BUILDCACHE_LAUNCH_SERVER": "maybe"})
    assert result.returncode == 0, result.stderr
    assert "BUILDCACHE_LAUNCH_SERVER" in result.stderr and "without the cache" in result.stderr
    assert (launch.out / "libanswer.rlib").is_file()


def test_a_command_through_the_client_runs_the_cli(launch) -> None:  # type: ignore[no-untyped-def]
    run(launch, ["buildcache", str(launch.fake), "-vV"])
    wait_for_server(launch)
    result = run(launch, ["buildcache", "stats", "--json"])
    assert result.returncode == 0, result.stderr
    assert '"requests"' in result.stdout


def test_cargo_through_the_server_keeps_its_jobserver(launch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """rustc warns when the jobserver cargo names in CARGO_MAKEFLAGS is not open."""
    subprocess.run(["cargo", "new", "-q", "--bin", "app"], cwd=tmp_path, check=True)
    app = tmp_path / "app"
    env = {**launch.env, "RUSTC_WRAPPER": "buildcache", "CARGO_TARGET_DIR": str(tmp_path / "t")}
    run(launch, ["buildcache", "rustc", "-vV"])
    wait_for_server(launch)
    result = subprocess.run(
        ["cargo", "build", "-j2"], cwd=app, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "jobserver" not in result.stderr, result.stderr
    program = subprocess.run(
        [str(tmp_path / "t" / "debug" / "app")], capture_output=True, text=True, check=True
    )
    assert program.stdout == "Hello, world!\n"


def test_a_launch_child_never_becomes_the_compiler_itself(tmp_path: Path) -> None:
    """main's last resort, when even handing the compiler back failed, execs it in
    place; in a server's child that compile would run unwatched by its client and the
    server, and then once more when the client sees no answer (the red team's fourth
    round: a MemoryError under the caller's limits, twice). It ends instead: the client
    runs the call once, the ordinary way."""
    marker = tmp_path / "ran"
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # as a server's child whose hand-back fails every time
        try:
            os.close(read_end)
            os.dup2(write_end, 1)
            from buildcache import main
            from buildcache.wrapper import rustc_process

            def failing_hand_back(argv: list[str]) -> None:
                raise MemoryError

            rustc_process.HAND_BACK[0] = failing_hand_back
            os.environ["BUILDCACHE_DISABLE"] = "1"  # straight to the hand-back
            main._wrap(["/bin/sh", "-c", f"echo ran > {marker}"])
        finally:
            os._exit(99)  # not reached: the wrapper exec'd or exited
    os.close(write_end)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    assert not marker.exists(), "the child became the compiler"


def build_request(fields: list[bytes]) -> bytes:
    return b"".join(field + b"\0" for field in fields)


def test_a_request_is_read_field_by_field() -> None:
    data = build_request(
        [MAGIC, b"77", b"18", b"5", b"5", b"2", b"1", b"100", b"1", b"7", b"1024", b"4096"]
        + [b"2", b"0", b"4"]
        + [b"2", b"buildcache", b"rustc"]
        + [b"3", b"A=1", b"NOEQUALS", b"A=2"]
    )
    request = parse(data)
    assert (request.parent, request.umask, request.nice) == (77, 0o22, 5)
    assert (request.blocked, request.ignored) == ({1, 3}, {2})
    assert request.groups == [100]
    assert request.limits == [(7, 1024, 4096)]
    assert request.fd_numbers == [0, 4]
    assert request.argv == [b"buildcache", b"rustc"]
    assert request.environ == {b"A": b"1"}  # the first wins, as getenv's


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"other-magic\0",
        build_request([MAGIC, b"1", b"18", b"0", b"0", b"0", b"x"]),
        build_request(
            [MAGIC, b"1", b"18", b"0", b"0", b"0", b"0", b"0", b"2", b"3", b"3", b"0", b"0"]
        ),
        build_request([MAGIC, b"1", b"18", b"0", b"0", b"0", b"0", b"0", b"1", b"-1", b"0", b"0"]),
        build_request(
            [MAGIC, b"1", b"18", b"0", b"0", b"0", b"0", b"0", b"0", b"0", b"0", b"extra"]
        ),
        build_request([MAGIC, b"1", b"18", b"0", b"0", b"0", b"0", b"0", b"0", b"0", b"99"]),
        build_request([MAGIC]) + b"unterminated",
    ],
)
def test_a_malformed_request_is_refused(data: bytes) -> None:
    with pytest.raises(BadRequest):
        parse(data)


def test_the_installed_client_names_its_interpreter() -> None:
    path = Path(installed_client()).resolve()
    interpreter = client_interpreter(path.read_bytes())
    assert interpreter and os.access(interpreter, os.X_OK)
    assert client_interpreter(b"#!/usr/bin/python3\n") is None
    assert sys.executable  # the suite's interpreter need not be the client's


@pytest.mark.parametrize("ending", ["answer", "hand_back"])
def test_the_callers_pipes_end_before_the_child_is_torn_down(ending: str) -> None:
    """cargo reads the compiler's output to its end: a served call's copies of cargo's
    pipes must close when it answers, not when the child's exit is done with it."""
    from buildcache import main
    from buildcache.launch import child
    from buildcache.launch.request import Request
    from buildcache.wrapper import rustc_process

    output_read, output_write = os.pipe()
    ours, theirs = socket.socketpair()
    forked = os.fork()
    if forked == 0:  # the child of a call, with cargo's pipe as its stdout
        real_exit = os._exit

        def torn_down_slowly(code: int) -> None:
            time.sleep(3)
            real_exit(code)

        try:
            os._exit = torn_down_slowly  # type: ignore[assignment]
            os.dup2(output_write, 1)
            ours.close()

            def wrapper(argv: list[str]) -> int:
                if ending == "hand_back":
                    rustc_process.HAND_BACK[0](["rustc", "-vV"])
                return 0

            main.main = wrapper  # type: ignore[assignment]
            request = Request()
            request.argv = [b"buildcache", b"rustc", b"-vV"]
            child._call(theirs.detach(), request)
        finally:
            os._exit(0)
    os.close(output_write)
    theirs.close()
    try:
        assert ours.recv(1) in (b"X", b"E")
        ready, _, _ = select.select([output_read], [], [], 2.0)
        assert ready, "the pipe stayed open until the child exited"
        assert os.read(output_read, 1) == b""
        assert os.waitpid(forked, os.WNOHANG) == (0, 0)  # the child is still there
    finally:
        os.waitpid(forked, 0)
        os.close(output_read)
        ours.close()


def test_nothing_raised_after_the_answer_returns_into_the_servers_loop() -> None:
    """A Ctrl-C the client forwards in its last moments, or any error while the child
    answers or stores: the forked child must end there. Unwound into serve(), it would
    remove the live server's socket on its way out (serve's finally)."""
    import mmap

    from buildcache.launch import child
    from buildcache.launch.request import Request

    ours, theirs = socket.socketpair()
    forked = os.fork()
    if forked == 0:
        try:
            ours.close()
            child._receive = lambda conn: (b"", [os.open(os.devnull, os.O_RDONLY)])  # type: ignore[assignment]
            child.parse = lambda data: Request()  # type: ignore[assignment]
            for step in ("_check", "_check_call", "_watch_client"):
                setattr(child, step, lambda *args: None)
            child._adopt = lambda request, fds, conn_fd: conn_fd  # type: ignore[assignment]

            def interrupted(conn_fd: int, request: Request) -> int:
                raise KeyboardInterrupt

            child._call = interrupted  # type: ignore[assignment]
            spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(2)]
            child.run(theirs, spare[0], spare[1], os.getppid(), os.getgid(), mmap.mmap(-1, 1))
        except BaseException:  # noqa: BLE001, S110 - what the server's loop would see
            pass
        os._exit(99)  # returned, or raised, out of child.run
    theirs.close()
    try:
        _, status = os.waitpid(forked, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1, status
    finally:
        ours.close()
