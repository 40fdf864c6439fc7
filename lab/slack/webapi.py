"""Slack's Web API (``/api/<method>``) over the workspace, with Slack's auth and scope checks.

Every call is recorded (method, token kind, scope, outcome) whether it succeeds or not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from lab.slack.model import JSON
from lab.slack.scopes import TokenKind, check
from lab.slack.workspace import SlackError, Workspace

Params = dict[str, Any]
Method = Callable[[Params], JSON]


async def read_params(request: web.Request) -> Params:
    """Merge query string and body, accepting JSON, form and multipart bodies like Slack."""
    params: Params = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        else:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def bearer(request: web.Request, params: Params) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth.removeprefix("Bearer ").strip()
    token = params.pop("token", None)
    return str(token) if token else None


def json_field(value: Any) -> Any:
    """Slack accepts ``blocks``/``files`` as JSON text in forms and as real JSON in JSON bodies."""
    if isinstance(value, str) and value:
        return json.loads(value)
    return value


class WebApi:
    """Dispatches ``/api/<method>`` to the workspace; ``public_url`` and ``socket_url`` are late-bound."""

    def __init__(self, workspace: Workspace, public_url: Callable[[], str], issue_ticket: Callable[[], str]):
        self.ws = workspace
        self.public_url = public_url
        self.issue_ticket = issue_ticket
        self.methods: dict[str, Method] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.postEphemeral": self.post_ephemeral,
            "chat.delete": self.delete,
            "users.info": self.users_info,
            "usergroups.list": self.usergroups_list,
            "usergroups.users.list": self.usergroups_users,
            "conversations.info": self.conversations_info,
            "files.getUploadURLExternal": self.get_upload_url,
            "files.completeUploadExternal": self.complete_upload,
            "apps.connections.open": self.connections_open,
        }

    def token_kind(self, token: str | None) -> TokenKind:
        if token is None:
            return TokenKind.NONE
        if token == self.ws.config.bot_token:
            return TokenKind.BOT
        if token == self.ws.config.app_token:
            return TokenKind.APP
        return TokenKind.INVALID

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await read_params(request)
        kind = self.token_kind(bearer(request, params))
        granted = self.ws.config.app_scopes if kind is TokenKind.APP else self.ws.config.bot_scopes
        verdict = check(method, kind, granted)
        # Slack reports the token's scopes and the method's scope on every answer.
        headers = {"X-OAuth-Scopes": ",".join(granted), "X-Accepted-OAuth-Scopes": verdict.needed or ""}
        if verdict.error is not None:
            self.ws.record_call(method, kind.value, verdict.needed, verdict.error)
            answer: JSON = {"ok": False, "error": verdict.error}
            if verdict.error == "missing_scope":
                answer |= {"needed": verdict.needed, "provided": ",".join(verdict.provided)}
            status = 404 if verdict.error == "unknown_method" else 200
            return web.json_response(answer, status=status, headers=headers)
        try:
            result = self.methods[method](params)
        except SlackError as exc:
            self.ws.record_call(method, kind.value, verdict.needed, exc.code)
            return web.json_response({"ok": False, "error": exc.code}, headers=headers)
        except (KeyError, ValueError, TypeError):
            self.ws.record_call(method, kind.value, verdict.needed, "invalid_arguments")
            return web.json_response({"ok": False, "error": "invalid_arguments"}, headers=headers)
        self.ws.record_call(method, kind.value, verdict.needed, None)
        return web.json_response({"ok": True, **result}, headers=headers)

    # --- methods -------------------------------------------------------------------------------

    def auth_test(self, params: Params) -> JSON:
        cfg = self.ws.config
        return {
            "url": f"https://{cfg.team_domain}.slack.com/",
            "team": cfg.team_domain,
            "user": cfg.bot_user.name,
            "team_id": cfg.team_id,
            "user_id": cfg.bot_user.id,
            "bot_id": cfg.bot_id,
            "is_enterprise_install": False,
        }

    def post_message(self, params: Params) -> JSON:
        if not params.get("text") and not params.get("blocks"):
            raise SlackError("no_text")
        message = self.ws.post(
            str(params["channel"]),
            self.ws.config.bot_user.id,
            str(params.get("text", "")),
            json_field(params.get("blocks")),
            thread_ts=params.get("thread_ts") or None,
        )
        return {"channel": message.channel, "ts": message.ts, "message": message.slack_view()}

    def update(self, params: Params) -> JSON:
        text = params.get("text")
        message = self.ws.update(
            str(params["channel"]),
            str(params["ts"]),
            None if text is None else str(text),
            json_field(params.get("blocks")),
        )
        return {
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": message.slack_view(),
        }

    def post_ephemeral(self, params: Params) -> JSON:
        user = self.ws.user(str(params["user"]))
        message = self.ws.post(
            str(params["channel"]),
            self.ws.config.bot_user.id,
            str(params.get("text", "")),
            json_field(params.get("blocks")),
            thread_ts=params.get("thread_ts") or None,
            ephemeral_to=user.id,
        )
        return {"message_ts": message.ts}

    def delete(self, params: Params) -> JSON:
        message = self.ws.message(self.ws.channel(str(params["channel"])).id, str(params["ts"]))
        message.deleted = True
        return {"channel": message.channel, "ts": message.ts}

    def users_info(self, params: Params) -> JSON:
        return {"user": self.ws.user_json(self.ws.user(str(params["user"])))}

    def usergroups_list(self, params: Params) -> JSON:
        groups = [
            {"id": g.id, "handle": g.handle, "name": g.handle, "team_id": self.ws.config.team_id}
            for g in self.ws.groups()
        ]
        return {"usergroups": groups}

    def usergroups_users(self, params: Params) -> JSON:
        return {"users": list(self.ws.group(str(params["usergroup"])).members)}

    def conversations_info(self, params: Params) -> JSON:
        ch = self.ws.channel(str(params["channel"]))
        return {"channel": {"id": ch.id, "name": ch.name, "is_channel": ch.id.startswith("C")}}

    def get_upload_url(self, params: Params) -> JSON:
        record = self.ws.new_file(str(params["filename"]), str(params["filename"]))
        return {"upload_url": f"{self.public_url()}/upload/{record.id}", "file_id": record.id}

    def complete_upload(self, params: Params) -> JSON:
        items = json_field(params["files"])
        channel_ref = params.get("channel_id") or (str(params.get("channels") or "").split(",")[0] or None)
        thread_ts = params.get("thread_ts") or None
        records = []
        for item in items:
            record = self.ws.files.get(str(item["id"]))
            if record is None:
                raise SlackError("file_not_found")
            record.title = str(item.get("title") or record.name)
            record.completed = True
            records.append(record)
        if channel_ref:
            channel = self.ws.channel(str(channel_ref))
            message = self.ws.post(
                channel.id,
                self.ws.config.bot_user.id,
                str(params.get("initial_comment") or ""),
                thread_ts=thread_ts,
                via="files",
            )
            message.files = [r.id for r in records]
            for record in records:
                record.channel, record.thread_ts, record.message_ts = (
                    channel.id,
                    message.thread_ts,
                    message.ts,
                )
        return {
            "files": [{"id": r.id, "name": r.name, "title": r.title, "size": len(r.content)} for r in records]
        }

    def connections_open(self, params: Params) -> JSON:
        return {"url": self.issue_ticket()}


async def upload(workspace: Workspace, request: web.Request) -> web.Response:
    """The upload URL ``files.getUploadURLExternal`` hands out: takes the raw bytes (POST or PUT)."""
    record = workspace.files.get(request.match_info["file_id"])
    if record is None:
        return web.Response(status=404, text="file_not_found")
    record.content = await request.read()
    return web.Response(text=f"OK - {len(record.content)}")
