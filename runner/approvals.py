"""The approval gate: a destructive step runs only once enough of the right people approved exactly it.

Before such a step, the runner describes what it will do from live facts (commands, targets, IDs) and
hashes that description with the procedure and cluster: the **plan hash**. It asks for approval of that
hash, waits (the run shows ``waiting_approval``), and right before executing describes the step again:
if anything changed — a machine recreated, a member ID different — the approvals are void and asked for
again. One rejection ends the run; so does an expired request. Votes themselves are recorded by the
Slack handlers through ``storage.approvals``, which enforces who may vote and how often; this module only
reads their outcome. A restart finds the request it was waiting on and keeps waiting on it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner.steps import StepContext, StepFailed, StepSpec
from storage import approvals, runs
from storage.approvals import ApprovalStatus
from storage.db import SessionFactory
from storage.models import RunStatus


@dataclass(frozen=True)
class Policy:
    """How many distinct approvers an action needs, and for how long a request stays open."""

    required: int
    expiry_seconds: int


class RunCancelled(Exception):
    """The run was cancelled while it waited for approval."""


class RunnerStopping(Exception):
    """This runner is shutting down; the run keeps waiting, and a restart resumes the wait."""


def plan_hash(procedure: str, cluster: str, step_id: str, plan: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of what is approved."""
    canonical = json.dumps(
        {"procedure": procedure, "cluster": cluster, "step": step_id, "plan": plan},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class ApprovalGate:
    sessions: SessionFactory
    policies: Callable[[str, str], Policy]  # (cluster, action) → policy
    poll_interval: float = 0.5
    stopping: threading.Event | None = None  # set when the runner shuts down

    def _describe(self, procedure: str, spec: StepSpec, ctx: StepContext) -> tuple[dict[str, Any], str]:
        plan = spec.describe(ctx) if spec.describe is not None else {"step": spec.title}
        return plan, plan_hash(procedure, ctx.cluster, spec.id, plan)

    def wait(self, procedure: str, seq: int, spec: StepSpec, ctx: StepContext) -> None:
        """Return once step ``seq`` is approved for the plan as it stands now; raise :class:`StepFailed`
        when rejected or expired, :class:`RunCancelled` when the run was cancelled meanwhile."""
        assert spec.approval is not None
        plan, wanted = self._describe(procedure, spec, ctx)
        while True:
            with self.sessions() as session:
                run = runs.get_run(ctx.run_id, session=session)
                if run.status == RunStatus.CANCELLED:
                    raise RunCancelled(ctx.run_id)
                request = approvals.latest_approval(ctx.run_id, seq, session=session)
                if request is not None and request.plan_hash != wanted:
                    approvals.void_approvals(
                        ctx.run_id, f"the plan of step {seq} changed since it was approved", session=session
                    )
                    request = None
                if request is None:
                    policy = self.policies(ctx.cluster, spec.approval)
                    request = approvals.request_approval(
                        session=session,
                        run_id=ctx.run_id,
                        seq=seq,
                        action=spec.approval,
                        plan_hash=wanted,
                        required=policy.required,
                        expires_in=dt.timedelta(seconds=policy.expiry_seconds),
                        plan=plan,
                    )
                if run.status != RunStatus.WAITING_APPROVAL:
                    runs.set_run_status(
                        ctx.run_id, RunStatus.WAITING_APPROVAL, session=session, plan_hash=wanted
                    )
                assert request.id is not None
                state = approvals.approval_state(request.id, session=session)
                if state.status == ApprovalStatus.REJECTED:
                    raise StepFailed(f"{spec.title}: rejected by <@{state.rejected_by}>; nothing was done")
                if state.status == ApprovalStatus.EXPIRED:
                    approvals.record_expiry(request.id, session=session)
                    raise StepFailed(
                        f"{spec.title}: the approval request expired with {len(state.approvers)} of "
                        f"{state.required} approvals; nothing was done. Start the procedure again."
                    )
                if state.status == ApprovalStatus.APPROVED:
                    # Right before acting, the plan is described again from live facts.
                    plan, now_hash = self._describe(procedure, spec, ctx)
                    if now_hash != wanted:
                        wanted = now_hash
                        continue
                    runs.set_run_status(ctx.run_id, RunStatus.RUNNING, session=session)
                    return
            if self.stopping is None:
                time.sleep(self.poll_interval)
            elif self.stopping.wait(self.poll_interval):
                raise RunnerStopping(ctx.run_id)
