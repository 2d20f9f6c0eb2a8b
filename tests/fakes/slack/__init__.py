"""A fake Slack for end-to-end tests: Web API, Socket Mode and signed events.

``FakeSlack`` is one aiohttp server on 127.0.0.1 (port 0). Point a client at
:attr:`FakeSlack.api_url` (the value of ``SLACK_API_URL``). It records every
Web API call, keeps each message's current text so a test can read a thread
the way a user sees it, and can misbehave on request: 429 with
``Retry-After``, a rolling-window rate limit, 5xx, a revoked token.

Socket Mode: ``apps.connections.open`` (with the ``xapp-`` token) answers the
``ws://`` URL of a websocket on the same server; it greets with ``hello`` and
:meth:`FakeSlack.push_event` sends an ``events_api`` envelope and waits for
the client's ack. HTTP mode: :meth:`FakeSlack.post_event` signs an Events API
body the way Slack does and posts it to the app.

Many workspaces: :meth:`FakeSlack.allow_install` is a user's "Allow" on Slack's
authorize page (a one-time code for ``oauth.v2.access``); each installed
workspace has its own bot user and token, a token answers only for its own
workspace's channels and files, and :meth:`FakeSlack.acting_in` picks the
workspace that events, threads and ids are of.
"""

from tests.fakes.slack.events import sign_request
from tests.fakes.slack.records import (
    APP_TOKEN,
    BOT_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    MANIFEST,
    SIGNING_SECRET,
    ApiCall,
    FakeFile,
    FakeMessage,
    manifest_scopes,
)
from tests.fakes.slack.server import FakeSlack

__all__ = [
    "APP_TOKEN",
    "BOT_TOKEN",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "MANIFEST",
    "SIGNING_SECRET",
    "ApiCall",
    "FakeFile",
    "FakeMessage",
    "FakeSlack",
    "manifest_scopes",
    "sign_request",
]
