"""The engines a bundle can run on, and whether LiteRT-LM's native build can run on this CPU,
told before the engine is started.

LiteRT-LM's linux aarch64 wheel is built for ARMv8.1 and uses its LSE atomics; an ARMv8.0 core
(a Raspberry Pi 4's Cortex-A72) stops on the first such instruction (SIGILL). The kernel
advertises LSE in the auxiliary vector's hardware capabilities (HWCAP_ATOMICS), which is also
what qemu reports for the core it emulates.
"""

from __future__ import annotations

import ctypes
import platform
import sys

# For .task / .litertlm bundles: LiteRT-LM, or the LiteRT interpreter on the bundle's own model
# and tokenizer (the only engine on CPUs LiteRT-LM was not built for); auto picks.
ENGINES = ("auto", "litert-lm", "interpreter")

AT_HWCAP = 16
HWCAP_ATOMICS = 1 << 8  # linux arch/arm64 uapi hwcap.h


def hwcap() -> int | None:
    """The kernel's AT_HWCAP bits for this process, or None where they cannot be read."""
    try:
        getauxval = ctypes.CDLL(None).getauxval
    except (OSError, AttributeError):
        return None
    getauxval.restype = ctypes.c_ulong
    getauxval.argtypes = [ctypes.c_ulong]
    return int(getauxval(AT_HWCAP))


def litert_lm_cpu_gap(machine: str | None = None, hwcaps: int | None = None) -> str | None:
    """Why LiteRT-LM cannot run on this CPU, or None when nothing is known against it."""
    if machine is None:
        if not sys.platform.startswith("linux"):
            return None
        machine, hwcaps = platform.machine(), hwcap()
    if machine not in ("aarch64", "arm64") or hwcaps is None:
        return None
    if not hwcaps & HWCAP_ATOMICS:
        return "this ARMv8.0 CPU lacks the LSE atomics LiteRT-LM's aarch64 build uses (a Raspberry Pi 4's Cortex-A72)"
    return None
