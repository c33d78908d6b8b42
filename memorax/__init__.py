"""memorax: reinforcement learning with memory, in JAX and flax.nnx.

`import memorax` is cheap: `memorax.networks`, `memorax.environments` and
`memorax.algorithms` are imported on first use (PEP 562), since each pulls in JAX.
"""

from importlib import import_module as _import_module

__version__ = "0.1.0"

_SUBPACKAGES = ("algorithms", "environments", "networks")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        # Importing binds the subpackage as an attribute of this module, so this hook
        # runs once per subpackage.
        return _import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBPACKAGES})
