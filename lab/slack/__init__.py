"""A local Slack for etcdops' tests and demo.

It speaks the real Slack protocols (Web API, Socket Mode, signed HTTP delivery, response_url) on
loopback so the bot is exercised with the real slack_bolt/slack_sdk code paths, with no internet.
"""

from lab.slack.config import SlackConfig
from lab.slack.driver import CommandResult, SlackDriver
from lab.slack.model import FileRecord, Message
from lab.slack.server import LocalSlack, start_local_slack
from lab.slack.threaded import LocalSlackThread

__all__ = [
    "CommandResult",
    "FileRecord",
    "LocalSlack",
    "LocalSlackThread",
    "Message",
    "SlackConfig",
    "SlackDriver",
    "start_local_slack",
]
