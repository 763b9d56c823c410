"""Run untrusted code (a student's notebook cells) in a fresh, limited Python process.

Used by `pgcourse grade`. Two layers, both on by default:

- **Process limits**, set by the sandboxed process itself before any student code runs: address space
  (RLIMIT_AS), CPU seconds (RLIMIT_CPU), size of any file it writes (RLIMIT_FSIZE, which also caps what it
  prints), no core dumps; a wall-clock timeout enforced by the parent, which then kills the whole process
  group; a scrubbed environment (no inherited variables, HOME and TMPDIR in a fresh temporary folder, one
  thread per maths library) and that folder as working directory. On x86-64 and aarch64 Linux a seccomp
  system-call filter then forbids new processes (fork, vfork, clone without CLONE_THREAD), exec, sockets,
  ptrace, signals to other processes and raising the limits again (`install_syscall_filter`).
- **bubblewrap** (`bwrap`, Debian's `bubblewrap` package), where it is installed and works: the process
  sees a read-only file system made of only what Python needs (the system's /usr, the Python installation,
  the virtual environment and the pgcourse package; not the course's solutions, not other submissions,
  not the grader's output), a writable temporary folder, no network, and its own PID, IPC and UTS
  namespaces; it dies with its parent.

Process limits are not a security boundary on a shared machine: without bubblewrap the code can read and
write whatever the instructor's account can. `isolation()` says which layers are in use.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SANDBOX_DIR = "/tmp/work"   # the temporary folder's path inside bubblewrap


@dataclass(frozen=True)
class Limits:
    """timeout: wall-clock seconds per process; memory_mb: address-space limit; cpu: CPU seconds
    (default: the timeout); file_bytes: largest file the process may write (stdout and stderr included)."""

    timeout: float = 60.0
    memory_mb: int = 2048
    cpu: float | None = None
    file_bytes: int = 64 * 2**20

    def apply(self) -> None:
        """Set these limits on the calling process (soft and hard, so they cannot be raised again)."""
        mem = int(self.memory_mb) * 2**20
        cpu = max(1, int(round(self.cpu if self.cpu is not None else self.timeout)))
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_bytes, self.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG instead


def clean_env(home: str) -> dict[str, str]:
    """The whole environment of a sandboxed process: nothing inherited but a plain PATH and locale."""
    one = "1"
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": one, "PYTHONNOUSERSITE": one, "PYTHONHASHSEED": "0",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": home, "OMP_NUM_THREADS": one, "MKL_NUM_THREADS": one,
            "OPENBLAS_NUM_THREADS": one, "NUMEXPR_NUM_THREADS": one, "MALLOC_ARENA_MAX": "2",
            "TQDM_DISABLE": one}


# ----------------------------------------------------------------------------- seccomp
# struct seccomp_data: int nr (offset 0), u32 arch (4), u64 ip (8), u64 args[6] (16 + 8 i); little-endian.
_ARCHES = {
    # machine: (AUDIT_ARCH, seccomp syscall, {name: number})
    "x86_64": (0xC000003E, 317, {"clone": 56, "fork": 57, "vfork": 58, "execve": 59, "kill": 62, "ptrace": 101,
                                 "setrlimit": 160, "tkill": 200, "tgkill": 234, "prlimit64": 302,
                                 "process_vm_readv": 310, "process_vm_writev": 311, "execveat": 322,
                                 "socket": 41, "socketpair": 53, "pidfd_send_signal": 424, "clone3": 435,
                                 "io_uring_setup": 425}),
    "aarch64": (0xC00000B7, 277, {"clone": 220, "execve": 221, "kill": 129, "ptrace": 117, "setrlimit": 164,
                                  "tkill": 130, "tgkill": 131, "prlimit64": 261, "process_vm_readv": 270,
                                  "process_vm_writev": 271, "execveat": 281, "socket": 198, "socketpair": 199,
                                  "pidfd_send_signal": 424, "clone3": 435, "io_uring_setup": 425}),
}
_LD, _JEQ, _JSET, _JGE, _RET = 0x20, 0x15, 0x45, 0x35, 0x06
_ALLOW, _KILL, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_CLONE_THREAD = 0x00010000


def filter_program(arch: str, pid: int) -> list[tuple[int, int, int, int]]:
    """The BPF program (code, jt, jf, k) of `install_syscall_filter`."""
    audit, _, nr = _ARCHES[arch]
    deny = [nr[n] for n in ("fork", "vfork", "execve", "execveat", "ptrace", "setrlimit", "process_vm_readv",
                            "process_vm_writev", "socket", "socketpair", "pidfd_send_signal", "io_uring_setup")
            if n in nr]
    prog: list[tuple] = [(_LD, 0, 0, 4), (_JEQ, 1, 0, audit), (_RET, 0, 0, _KILL), (_LD, 0, 0, 0)]
    if arch == "x86_64":
        prog += [(_JGE, 0, 1, 0x40000000), (_RET, 0, 0, _KILL)]   # the x32 ABI's numbers
    eperm, enosys = _ERRNO | errno.EPERM, _ERRNO | errno.ENOSYS
    for n in deny:
        prog += [(_JEQ, 0, 1, n), (_RET, 0, 0, eperm)]
    prog += [(_JEQ, 0, 1, nr["clone3"]), (_RET, 0, 0, enosys)]    # libc then falls back to clone
    # clone: only threads (CLONE_THREAD in args[0]) may be created
    prog += [(_JEQ, 0, 4, nr["clone"]), (_LD, 0, 0, 16), (_JSET, 0, 1, _CLONE_THREAD), (_RET, 0, 0, _ALLOW),
             (_RET, 0, 0, eperm)]
    # prlimit64(pid, resource, new, old): reading a limit is fine, setting one is not
    prog += [(_JEQ, 0, 5, nr["prlimit64"]), (_LD, 0, 0, 32), (_JEQ, 0, 2, 0), (_LD, 0, 0, 36), (_JEQ, 1, 0, 0),
             (_RET, 0, 0, eperm)]
    prog += [(_LD, 0, 0, 0)]
    # kill(pid, sig) / tkill(tid, sig) / tgkill(tgid, tid, sig): only this process (or its group, 0)
    for name in ("kill", "tkill", "tgkill"):
        prog += [(_JEQ, 0, 5, nr[name]), (_LD, 0, 0, 16), (_JEQ, 2, 0, pid), (_JEQ, 1, 0, 0),
                 (_RET, 0, 0, eperm), (_RET, 0, 0, _ALLOW)]
    prog += [(_RET, 0, 0, _ALLOW)]
    return prog


def syscall_filter_supported() -> bool:
    return sys.platform == "linux" and platform.machine() in _ARCHES


def install_syscall_filter() -> bool:
    """Forbid the calling process, from now on and for good, to start processes, exec, open sockets, trace
    or signal other processes and raise its resource limits (they fail with EPERM). Threads still work.
    Returns False where it is not supported (then nothing changed)."""
    arch = platform.machine()
    if not syscall_filter_supported():
        return False
    prog = filter_program(arch, os.getpid())

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                    ("k", ctypes.c_uint32)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    arr = (SockFilter * len(prog))(*[SockFilter(*ins) for ins in prog])
    fprog = SockFprog(len(prog), arr)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.prctl(38, 1, 0, 0, 0) != 0:            # PR_SET_NO_NEW_PRIVS
        return False
    seccomp_nr = _ARCHES[arch][1]
    # seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog): every thread of the process
    if libc.syscall(seccomp_nr, 1, 1, ctypes.byref(fprog)) != 0:
        return False
    return True


# ----------------------------------------------------------------------------- bubblewrap
_BWRAP: dict[str, str | None] = {}


def find_bwrap() -> str | None:
    """The path of a working `bwrap`, or None (not installed, or namespaces are not allowed here)."""
    if "path" not in _BWRAP:
        path = shutil.which("bwrap") or ("/usr/bin/bwrap" if os.access("/usr/bin/bwrap", os.X_OK) else None)
        if path is not None:
            try:
                ok = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
                                    capture_output=True, timeout=20).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
            path = path if ok else None
        _BWRAP["path"] = path
    return _BWRAP["path"]


def isolation(use_bwrap: bool) -> str:
    """One sentence on what isolates the graded code, for the grader's summary."""
    filt = "a system-call filter (no new processes, exec or network)" if syscall_filter_supported() else None
    limits = "process limits (time, CPU, memory, file size, a scrubbed environment, its own temporary folder)"
    if use_bwrap:
        return (f"bubblewrap (read-only file system with only Python and pgcourse, no network, own PID namespace), "
                f"{limits}{' and ' + filt if filt else ''}")
    base = f"process limits only: {limits}{' and ' + filt if filt else ''}"
    return (base + "; bubblewrap (apt-get install bubblewrap) was not available, so submissions could read and "
            "write files of this account")


def python_paths() -> list[str]:
    """The folders a Python process of this environment needs to read (the installation, the virtual
    environment, the site-packages and the pgcourse package), outermost only."""
    import site

    import pgcourse

    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             os.path.dirname(os.path.dirname(os.path.abspath(sys.executable))),
             str(Path(pgcourse.__file__).resolve().parent)}
    try:
        paths.update(site.getsitepackages())
    except AttributeError:
        pass
    paths = {os.path.realpath(p) for p in paths if p and os.path.isdir(p)} | {p for p in paths if p and os.path.isdir(p)}
    system = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc")
    keep = sorted(p for p in paths if not any(p == s or p.startswith(s + "/") for s in system))
    return [p for p in keep if not any(p != q and p.startswith(q + "/") for q in keep)]


def bwrap_argv(bwrap: str, workdir: Path) -> list[str]:
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    for p in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(p):
            argv += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            argv += ["--ro-bind", p, p]
    for p in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives",
              "/etc/fonts", "/etc/mime.types"):
        argv += ["--ro-bind-try", p, p]
    # /tmp first: a Python or a checkout that lives under /tmp is bound on top of the empty /tmp, not hidden by it
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for p in python_paths():
        argv += ["--ro-bind", p, p]
    argv += ["--bind", str(workdir), SANDBOX_DIR, "--chdir", SANDBOX_DIR]
    return argv


# ----------------------------------------------------------------------------- running
@dataclass
class Run:
    """What became of one sandboxed process."""

    returncode: int | None
    timed_out: bool
    seconds: float
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_bytes: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def signal(self) -> int | None:
        """The signal that ended the process (bubblewrap reports it as 128 + signal)."""
        rc = self.returncode
        if rc is None:
            return None
        if rc < 0:
            return -rc
        if rc > 128 and rc - 128 < 65:
            return rc - 128
        return None


def run_python(module_args: list[str], job: bytes, rundir: Path, limits: Limits, bwrap: str | None,
               keep_output: int = 64_000, fds: tuple[int, ...] = ()) -> Run:
    """Run `python -I -B -m MODULE_ARGS...` with `job` on stdin and `rundir/work` as its temporary folder, in
    bubblewrap when `bwrap` is given; kill its process group after `limits.timeout` seconds. `fds` stay open
    in the child (e.g. the results file). stdin, stdout and stderr are files without a name (nothing else can
    open them); the first `keep_output` bytes of stdout and stderr are kept."""
    work = rundir / "work"
    work.mkdir(parents=True, exist_ok=True)
    home = SANDBOX_DIR if bwrap else str(work)
    argv = [sys.executable, "-I", "-B", "-m", *module_args]
    if bwrap:
        argv = bwrap_argv(bwrap, work) + ["--", *argv]
    start = time.monotonic()
    with tempfile.TemporaryFile(dir=rundir) as stdin, tempfile.TemporaryFile(dir=rundir) as out, \
            tempfile.TemporaryFile(dir=rundir) as err:
        stdin.write(job)
        stdin.seek(0)
        proc = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=err, cwd=str(work), env=clean_env(home),
                                start_new_session=True, pass_fds=fds, close_fds=True)
        timed_out = False
        try:
            proc.wait(timeout=limits.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        seconds = time.monotonic() - start
        size = out.seek(0, os.SEEK_END)
        out.seek(0)
        err.seek(0)
        return Run(proc.returncode, timed_out, seconds, out.read(keep_output), err.read(keep_output), size)
