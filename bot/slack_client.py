"""The bot's Slack Web API client, counted: every failed call and every retry shows in ``/metrics``.

Every Web API method goes through :meth:`WebClient.api_call`, so counting there sees the relay's edits,
the listeners' answers, Bolt's ``auth.test`` and Socket Mode's ``apps.connections.open`` alike. Retries
are counted in the retry handlers (slack_sdk calls ``prepare_for_next_attempt`` only when it retries).
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import SlackResponse

from storage import metrics


def api_method(url: str) -> str:
    """``https://slack.com/api/chat.update?x=1`` → ``chat.update``."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "unknown"


class CountedRetries(RetryHandler):
    """A retry handler that counts the retries the handler it wraps decides on."""

    def __init__(self, inner: RetryHandler) -> None:
        super().__init__(max_retry_count=inner.max_retry_count, interval_calculator=inner.interval_calculator)
        self.inner = inner

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return self.inner.can_retry(state=state, request=request, response=response, error=error)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        metrics.SLACK_API_RETRIES.labels(api_method(request.url)).inc()
        self.inner.prepare_for_next_attempt(state=state, request=request, response=response, error=error)


def default_retries() -> list[RetryHandler]:
    """A dropped connection is retried once (slack_sdk's default); Slack's 429 answers to a burst of edits
    are waited out (Retry-After) up to three times instead of dropping the edits."""
    return [
        CountedRetries(ConnectionErrorRetryHandler()),
        CountedRetries(RateLimitErrorRetryHandler(max_retry_count=3)),
    ]


class CountedWebClient(WebClient):
    """A WebClient that counts failed calls by method and error (Slack's error code, or the exception)."""

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            metrics.SLACK_API_ERRORS.labels(api_method, str(error or "unknown")).inc()
            raise
        except Exception as exc:  # could not reach Slack at all: counted by what went wrong
            metrics.SLACK_API_ERRORS.labels(api_method, type(exc).__name__).inc()
            raise


def slack_client(token: str, base_url: str) -> CountedWebClient:
    return CountedWebClient(token=token, base_url=base_url, retry_handlers=default_retries())
