"""A fake Discord (REST API + gateway websocket) that the real discord.py client can use.

Bind it on 127.0.0.1 with an ephemeral port and point the client at
:attr:`FakeDiscord.api_url` (``DISCORD_API_URL``) and :attr:`FakeDiscord.gateway_url`
(``DISCORD_GATEWAY_URL``). It speaks what discord.py 2.x relies on:

* REST: ``Authorization: Bot <token>`` is required; JSON bodies are answered with
  ``Content-Type: application/json`` exactly (discord.py parses nothing else) and every
  response carries ``Via`` (without it discord.py treats a 429 as a Cloudflare ban).
  Message create/edit share per-channel buckets with Discord's ``X-RateLimit-*`` headers;
  :meth:`FakeDiscord.rate_limit` injects 429s with ``Retry-After`` and ``retry_after``.
  A channel's history pages newest first (``before``/``after``, ``limit`` 1-100); a
  channel in :attr:`FakeDiscord.hidden_channels` answers 403 Missing Access, one in
  :attr:`FakeDiscord.without_history` an empty page. Replies and thread starter
  messages carry ``referenced_message``; :meth:`FakeDiscord.start_thread` starts a
  thread from a message as a person does.
* Gateway: HELLO, heartbeat ACK, IDENTIFY -> READY + GUILD_CREATE, RESUME -> missed
  events + RESUMED, INVALID_SESSION, forced disconnects, close 4004 (bad token) and
  4014 (privileged intents not enabled). Payloads are compressed the way the client
  asks in the URL query: ``zlib-stream`` (one shared compressobj per connection, each
  payload ended with ``Z_SYNC_FLUSH``) or ``zstd-stream`` (one shared compressor, each
  payload a flushed block; discord.py asks for it only when ``zstandard`` or
  ``compression.zstd`` is importable, so the same module is there for the fake).

Everything a user would see is kept: :meth:`FakeDiscord.contents` gives the current text
of a channel's messages, :meth:`FakeDiscord.buttons` the buttons under a message, and files
the bot sends are kept with their bytes. Users can attach files (served without a token at
``/attachments/...`` on the same port, like Discord's CDN), click buttons and run slash
commands (INTERACTION_CREATE), and fill in and submit the modals the bot opens
(MODAL_SUBMIT); the bot's interaction callbacks, follow-ups and command registrations
are recorded. Every REST call is recorded in :attr:`FakeDiscord.calls`.
"""

from tests.fakes.discord.records import (
    EPHEMERAL_FLAG,
    VOICE_MESSAGE_FLAG,
    FakeFile,
    FakeGuild,
    FakeUser,
    InteractionCallback,
    RestCall,
)
from tests.fakes.discord.server import FakeDiscord

__all__ = [
    "EPHEMERAL_FLAG",
    "VOICE_MESSAGE_FLAG",
    "FakeDiscord",
    "FakeFile",
    "FakeGuild",
    "FakeUser",
    "InteractionCallback",
    "RestCall",
]
