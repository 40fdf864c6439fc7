"""Controllers that play OpenShift's operators in the lab (etcd operator, machine API, kubelets' status)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.supervisor import Controller


def all_controllers() -> list[Controller]:
    return []
