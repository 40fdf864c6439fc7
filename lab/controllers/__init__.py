"""Controllers that play OpenShift's operators in the lab (etcd operator, machine API, kubelets' status)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.supervisor import Controller


def all_controllers() -> list[Controller]:
    from lab.controllers.etcd_operator import etcd_operator_controller
    from lab.controllers.kubelets import csr_signer, kubelet_controller
    from lab.controllers.machines import machine_controller
    from lab.controllers.seed import seed_controller
    from lab.controllers.static_pods import static_pod_controller

    return [
        seed_controller,
        kubelet_controller,
        etcd_operator_controller,
        static_pod_controller,
        machine_controller,
        csr_signer,
    ]
