"""Which run a log line is about: the engine binds the run's id, cluster, procedure and step while it
executes them, and the log formatter (``bot.logs``) adds whatever is bound to every line.

Context variables rather than logger adapters, so a line logged deep inside an adapter or a storage
function still says which run it belongs to without every call passing it along. The engine binds them
inside a copied context, so nothing is left bound when its worker thread moves on to the next run.
"""

from __future__ import annotations

from contextvars import ContextVar

FIELDS = ("run_id", "cluster", "procedure", "step")

_VARS: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"etcdops_log_{name}", default=None) for name in FIELDS
}


def bind(**fields: str | None) -> None:
    """Bind ``run_id``, ``cluster``, ``procedure`` and/or ``step`` in the current context."""
    for name, value in fields.items():
        if name not in _VARS:
            raise TypeError(f"unknown log field {name!r}; the fields are {', '.join(FIELDS)}")
        _VARS[name].set(value)


def current() -> dict[str, str]:
    """The fields bound in the current context (those not bound are left out)."""
    found = {name: var.get() for name, var in _VARS.items()}
    return {name: value for name, value in found.items() if value is not None}
