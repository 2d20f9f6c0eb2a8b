"""A user's browser installing the app: the bridge's install page, Slack's "Allow", the redirect.

The install page links to slack.com's authorize page; the test never goes
there: the fake Slack's :meth:`~tests.fakes.slack.oauth.OAuth.allow_install`
is what a user's "Allow" does, and gives the code Slack would put into the
redirect back to the bridge. The state cookie is sent back by hand, as a
browser does for the bridge's host (aiohttp's cookie jar keeps no ``Secure``
cookie for plain http).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import aiohttp

from tests.fakes.slack import FakeSlack

STATE_COOKIE = "slack-app-oauth-state"


@dataclass(frozen=True)
class Started:
    """What the install page gave the browser: Slack's authorize URL and the state cookie."""

    authorize_url: str
    state: str
    cookie: str

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.authorize_url).query)


@dataclass(frozen=True)
class Finished:
    status: int
    page: str


async def start_install(base_url: str) -> Started:
    """``GET /slack/install``: the "Add to Slack" page and its state cookie."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base_url}/slack/install", allow_redirects=False) as response,
    ):
        page = await response.text()
        assert response.status == 200, page
        cookie = response.cookies[STATE_COOKIE].value
    found = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page)
    assert found, f"no link to Slack's authorize page in {page!r}"
    url = html.unescape(found.group(1))
    (state,) = parse_qs(urlsplit(url).query)["state"]
    return Started(url, state, cookie)


async def finish_install(
    base_url: str, code: str, state: str, cookie: str | None = None
) -> Finished:
    """``GET /slack/oauth_redirect?code=…&state=…`` as Slack's redirect makes the browser do."""
    headers = {"Cookie": f"{STATE_COOKIE}={cookie if cookie is not None else state}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{base_url}/slack/oauth_redirect",
            params={"code": code, "state": state},
            headers=headers,
            allow_redirects=False,
        ) as response,
    ):
        return Finished(response.status, await response.text())


async def install(base_url: str, slack: FakeSlack, team_id: str, name: str = "") -> Finished:
    """The whole install into ``team_id``, started and finished on ``base_url``."""
    started = await start_install(base_url)
    code = slack.allow_install(team_id, name)
    return await finish_install(base_url, code, started.state, started.cookie)
