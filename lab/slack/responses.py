"""``response_url`` endpoints: the app POSTs JSON there to reply to a command or interaction."""

from __future__ import annotations

from aiohttp import web

from lab.slack.workspace import SlackError, Workspace


async def handle(workspace: Workspace, request: web.Request) -> web.Response:
    """Accept a message as Slack's response_url does: ``ok`` on success, an error word otherwise
    (``used_url`` after five uses, ``expired_url`` after thirty minutes)."""
    try:
        target = workspace.use_response_url(request.match_info["token"])
    except SlackError as exc:
        return web.Response(status=404, text=exc.code)
    try:
        body = await request.json()
    except ValueError:
        return web.Response(status=400, text="invalid_payload")
    if not isinstance(body, dict):
        return web.Response(status=400, text="invalid_payload")
    try:
        workspace.apply_response(target, body, via="response_url")
    except SlackError as exc:
        return web.Response(status=404, text=exc.code)
    return web.Response(text="ok")
