"""A seccomp filter (classic BPF) for sandboxed strategies, in the form ``bwrap --seccomp FD`` loads.

Deny-list, not allow-list: CPython and whatever pure-Python code a strategy runs use a broad and
changing set of system calls, and the namespaces already take away what matters (no network, no
host files, no other processes). The filter removes the kernel's riskiest remaining surface and the
calls that would undo the sandbox: ptrace and cross-process memory access, mounts and new
namespaces (``unshare``/``setns``, ``clone`` with namespace flags), keyrings, BPF, perf events,
io_uring, userfaultfd, module loading, kexec, clock and host-name changes. A denied call fails with
``EPERM`` (``clone3`` with ``ENOSYS``, so libc falls back to ``clone``, whose flags a filter can
read). Another architecture or the x32 ABI is killed outright.

No Django imports; only x86_64 is described (``filter_for_machine`` returns None elsewhere and the
sandbox runs without a filter, saying so).
"""

from __future__ import annotations

import errno
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

# x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl); tests compare them with asm/unistd_64.h.
DENIED_X86_64: dict[str, int] = {
    "ptrace": 101,
    "syslog": 103,
    "uselib": 134,
    "personality": 135,
    "vhangup": 153,
    "pivot_root": 155,
    "_sysctl": 156,
    "adjtimex": 159,
    "chroot": 161,
    "acct": 163,
    "settimeofday": 164,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "sethostname": 170,
    "setdomainname": 171,
    "iopl": 172,
    "ioperm": 173,
    "create_module": 174,
    "init_module": 175,
    "delete_module": 176,
    "quotactl": 179,
    "nfsservctl": 180,
    "lookup_dcookie": 212,
    "clock_settime": 227,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "move_pages": 279,
    "perf_event_open": 298,
    "fanotify_init": 300,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "clock_adjtime": 305,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "pidfd_getfd": 438,
    "mount_setattr": 442,
}
CLONE_X86_64 = 56
CLONE3_X86_64 = 435
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000

_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LOW = 16  # args[0], low 32 bits (little endian)


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def build_filter_x86_64() -> bytes:
    """The filter program: a sequence of ``struct sock_filter`` (8 bytes each)."""
    eperm = RET_ERRNO | errno.EPERM
    program = [
        _insn(_LD_W_ABS, 0, 0, _OFF_ARCH),
        _insn(_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        _insn(_RET_K, 0, 0, RET_KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, _OFF_NR),
        _insn(_JGE_K, 0, 1, X32_SYSCALL_BIT),
        _insn(_RET_K, 0, 0, RET_KILL_PROCESS),
    ]
    for number in sorted(set(DENIED_X86_64.values())):
        program += [_insn(_JEQ_K, 0, 1, number), _insn(_RET_K, 0, 0, eperm)]
    program += [
        _insn(_JEQ_K, 0, 1, CLONE3_X86_64),
        _insn(_RET_K, 0, 0, RET_ERRNO | errno.ENOSYS),
        _insn(_JEQ_K, 0, 3, CLONE_X86_64),
        _insn(_LD_W_ABS, 0, 0, _OFF_ARG0_LOW),
        _insn(_JSET_K, 0, 1, CLONE_NAMESPACE_FLAGS),
        _insn(_RET_K, 0, 0, eperm),
        _insn(_RET_K, 0, 0, RET_ALLOW),
    ]
    return b"".join(program)


def filter_for_machine(machine: str | None = None) -> bytes | None:
    """The filter for this CPU architecture, or None when we don't describe it."""
    machine = machine or platform.machine()
    if machine in ("x86_64", "AMD64"):
        return build_filter_x86_64()
    return None
