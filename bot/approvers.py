"""Who may approve: the members of the policy's Slack user group, or the users it lists by ID or name.

Asked of Slack at each click (``usergroups.list`` then ``usergroups.users.list``), so a person removed
from the group loses the right at once; clicks are rare enough for that.
"""

from __future__ import annotations

from slack_sdk import WebClient

from bot.clusters import ApprovalPolicy


def who_may(policy: ApprovalPolicy) -> str:
    """How the approval message names the approvers."""
    names = [f"@{policy.group}"] if policy.group else []
    names += [f"<@{user}>" for user in policy.users]
    return " or ".join(names)


def group_members(client: WebClient, handle: str) -> set[str]:
    groups = client.usergroups_list()["usergroups"] or []
    group = next((g for g in groups if g.get("handle") == handle), None)
    if group is None:
        return set()
    return set(client.usergroups_users_list(usergroup=group["id"])["users"] or [])


def may_approve(client: WebClient, policy: ApprovalPolicy, user_id: str, user_name: str = "") -> bool:
    if user_id in policy.users or (user_name and user_name in policy.users):
        return True
    return bool(policy.group) and user_id in group_members(client, str(policy.group))
