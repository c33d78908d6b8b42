"""memorax: reinforcement learning with memory, in JAX and flax.nnx.

`import memorax` is cheap: `memorax.networks`, `memorax.environments` and
`memorax.algorithms` are imported on first use (PEP 562), since each pulls in JAX.
"""

import os as _os
from importlib import import_module as _import_module

__version__ = "0.1.0"

# XLA:CPU (jaxlib 0.10) can deadlock running a program whose independent parts its
# concurrency-optimised scheduler runs side by side: every worker waits, nothing
# runs. Seen here on 2 cores with vmapped seeds (`jit(vmap(agent.init))` over 3 seeds
# of PPO on MemoryChain hung in about 4 of 5 runs; 0 of 10 with the scheduler off; see
# tests/test_xla_workaround.py). The flag only orders XLA:CPU's work; GPUs and TPUs
# ignore it. XLA reads its flags when JAX starts its backend, so this must run
# before the first computation; a flag the user set wins.
# Some libraries start JAX's backend when imported (gymnax does): then the flag comes
# too late, and a warning says so.
_SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"


def _backend_started() -> bool:
    import sys

    bridge = sys.modules.get("jax._src.xla_bridge")  # looked up, never imported here
    return bool(getattr(bridge, "_backends", None))


if _SCHEDULER_FLAG not in _os.environ.get("XLA_FLAGS", ""):
    _os.environ["XLA_FLAGS"] = f"{_os.environ.get('XLA_FLAGS', '')} {_SCHEDULER_FLAG}=false".strip()
    if _backend_started():
        import warnings as _warnings

        _warnings.warn(
            "JAX's backend started before `import memorax` (e.g. `import gymnax` starts it), so "
            f"memorax could not set XLA_FLAGS={_SCHEDULER_FLAG}=false, which avoids an XLA:CPU "
            "deadlock with vmapped programs: import memorax first, or set that flag yourself.",
            RuntimeWarning,
            stacklevel=2,
        )

_SUBPACKAGES = ("algorithms", "environments", "networks")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        # Importing binds the subpackage as an attribute of this module, so this hook
        # runs once per subpackage.
        return _import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBPACKAGES})
