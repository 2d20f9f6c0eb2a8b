"""A chatflow's Human Input form in a Discord thread: its content, one button per action.

The form is a message of its own below the answer so far: the form's content
(Markdown), when it expires, and one button per action (``button_style``
primary / danger). A form without fields is answered by the click itself
(deferred first: Discord shows a failure after 3 s); a form with fields opens
a modal holding them (up to five text inputs; a select field is short text
with its options listed), and the modal's submission answers the form. A
form Discord cannot hold (more than five fields) says to answer it in Dify.
Anyone the allow-lists let talk to the bot there may answer; the bridge
submits a form once (on any replica). Then the form's message shows who chose
what, and its buttons are gone; the workflow's answer goes on in the thread.

Button ids: ``dify_form:{form}:{n}`` (``n``: the action's place in the form);
the modal's id is ``dify_form_modal:{form}:{n}`` and its inputs ``f{i}`` (the
form's ``i``-th field). ``{form}`` is the form's key, or for a key too long
for Discord's 100-character ids ``#`` and a digest remembered here (bounded;
after a restart such a click finds no form).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import discord

from dify_bridge.adapters.discord.messages import Asker
from dify_bridge.adapters.discord.places import Places
from dify_bridge.adapters.discord.sink import FAILURES, NO_MENTIONS, reason_of
from dify_bridge.adapters.discord.text import (
    MAX_BUTTON_LABEL,
    MAX_CUSTOM_ID,
    MAX_MESSAGE_LEN,
    neutralise_mentions,
    parse_message_key,
)
from dify_bridge.core import (
    BoundedDict,
    Bridge,
    FormView,
    MessageKey,
    SinkError,
    ThreadKey,
    notices,
)

__all__ = [
    "FORM_BUTTON",
    "FORM_MODAL",
    "MAX_MODAL_FIELDS",
    "TOO_MANY_FIELDS",
    "DiscordForms",
    "form_view",
]

log = logging.getLogger(__name__)

FORM_BUTTON = "dify_form"
FORM_MODAL = "dify_form_modal"
MAX_MODAL_FIELDS = 5
"""Text inputs one Discord modal holds."""
MAX_BUTTONS = 25
TOO_MANY_FIELDS = (
    "This form has more fields than Discord can show: please answer it in the assistant's Dify app."
)
_STYLES = {"primary": discord.ButtonStyle.primary, "danger": discord.ButtonStyle.danger}
_TOLD = (notices.FORM_TAKEN, notices.FORM_UNKNOWN, notices.FORM_BY_EMAIL, notices.UNEXPECTED)
"""Lines only the clicker reads (Dify's refusals are already in the thread)."""


def fits_discord(form: FormView) -> bool:
    return len(form.fields) <= MAX_MODAL_FIELDS


def form_text(form: FormView, outcome: str = "") -> str:
    """The form's message: content, expiry (or, once answered, ``outcome``)."""
    lines = [f"📝 **{form.title}**" if form.title else "📝 **A form**"]
    if form.content.strip():
        lines.append(form.content.strip())
    tail = outcome or (TOO_MANY_FIELDS if not fits_discord(form) else f"_{form.expiry_line()}_")
    body = "\n\n".join(lines)
    tail_text = f"\n\n{tail}" if tail.strip("_") else ""
    room = MAX_MESSAGE_LEN - len(tail_text)
    if len(body) > room:
        body = body[: room - 1] + "…"
    return neutralise_mentions(body + tail_text)


class FormIds:
    """The ``{form}`` part of a form's ids: its key, or a digest of a key too long."""

    def __init__(self, limit: int = 5000) -> None:
        self._long = BoundedDict[str, str](limit)

    def short(self, form_key: str) -> str:
        if len(f"{FORM_MODAL}:{form_key}:{MAX_BUTTONS}") <= MAX_CUSTOM_ID and "#" not in form_key:
            return form_key
        digest = "#" + hashlib.sha256(form_key.encode()).hexdigest()[:32]
        self._long[digest] = form_key
        return digest

    def form_key(self, short: str) -> str:
        return (self._long.get(short) or "") if short.startswith("#") else short


def parse_form_id(custom_id: str, prefix: str) -> tuple[str, int] | None:
    """``(form part, action number)`` of ``{prefix}:{form}:{n}``; None for anything else."""
    head, sep, rest = custom_id.partition(":")
    form, sep2, number = rest.rpartition(":")
    if head != prefix or not sep or not sep2 or not form or not number.isdigit():
        return None
    return form, int(number)


def form_view(form: FormView, ids: FormIds) -> discord.ui.View | None:
    """One button per action (None when Discord cannot take the answer)."""
    if not fits_discord(form) or not form.actions:
        return None
    view = discord.ui.View(timeout=None)
    short = ids.short(form.form_key)
    for n, action in enumerate(form.actions[:MAX_BUTTONS]):
        view.add_item(
            discord.ui.Button(
                label=(action.title or action.id)[:MAX_BUTTON_LABEL],
                style=_STYLES.get(action.style, discord.ButtonStyle.secondary),
                custom_id=f"{FORM_BUTTON}:{short}:{n}",
                row=n // 5,
            )
        )
    view.stop()  # answered from on_interaction by custom_id (see controls_view)
    return view


def form_modal(form: FormView, n: int, ids: FormIds) -> discord.ui.Modal:
    """The form's fields as text inputs; submitting answers it with its ``n``-th action."""
    action = form.actions[n]
    title = f"{form.title or 'Form'}: {action.title or action.id}"
    modal = discord.ui.Modal(
        title=title[:45], custom_id=f"{FORM_MODAL}:{ids.short(form.form_key)}:{n}", timeout=None
    )
    for i, field in enumerate(form.fields[:MAX_MODAL_FIELDS]):
        label = field.label or field.name
        placeholder = None
        if field.kind == "select" and field.options:
            options = ", ".join(field.options)
            placeholder = f"One of: {options}"[:100]
            label = f"{label} ({options})"
        long = field.kind != "select"
        modal.add_item(
            discord.ui.TextInput(
                label=label[:45],
                custom_id=f"f{i}",
                style=discord.TextStyle.paragraph if long else discord.TextStyle.short,
                placeholder=placeholder,
                default=field.default[:4000] or None,
                required=field.kind == "select",
                max_length=4000,
            )
        )
    modal.stop()  # answered from on_interaction by custom_id, on any replica
    return modal


def _custom_id(interaction: discord.Interaction) -> str:
    data: Mapping[str, object] = interaction.data or {}
    return str(data.get("custom_id", ""))


def _text_inputs(components: Any) -> Iterator[Mapping[str, Any]]:
    """The text inputs of a modal submission (in action rows, or in labels)."""
    for component in components or ():
        if not isinstance(component, Mapping):
            continue
        if component.get("type") == 4:
            yield component
        inner = component.get("components") or ()
        if component.get("component"):
            inner = (component["component"],)
        yield from _text_inputs(inner)


class DiscordForms:
    """Shows forms in Discord threads (a :class:`~dify_bridge.core.FormBoard`) and takes the
    clicks and modal submissions that answer them."""

    def __init__(
        self, client: Callable[[], discord.Client], bridge: Bridge, places: Places, asker: Asker
    ) -> None:
        self._client = client
        self._bridge = bridge
        self._places = places
        self._asker = asker
        self._ids = FormIds()
        bridge.show_forms_with("discord", self)

    @staticmethod
    def handles(interaction: discord.Interaction) -> bool:
        custom_id = _custom_id(interaction)
        if interaction.type is discord.InteractionType.modal_submit:
            return custom_id.startswith(FORM_MODAL + ":")
        return custom_id.startswith(FORM_BUTTON + ":")

    async def show_form(self, form: FormView) -> str:
        guild, channel_id = ThreadKey.parse(form.thread_key).parts
        channel = self._client().get_partial_messageable(
            int(channel_id), guild_id=None if guild == "dm" else int(guild)
        )
        view = form_view(form, self._ids)
        try:
            if view is None:
                sent = await channel.send(form_text(form), allowed_mentions=NO_MENTIONS)
            else:
                sent = await channel.send(form_text(form), allowed_mentions=NO_MENTIONS, view=view)
        except FAILURES as exc:
            raise SinkError("Discord send", reason_of(exc)) from None
        return str(MessageKey.discord(channel.id, sent.id))

    async def close_form(self, message_key: str, form: FormView, outcome: str) -> None:
        channel_id, message_id = parse_message_key(message_key)
        partial = self._client().get_partial_messageable(channel_id).get_partial_message(message_id)
        try:  # view=None: an empty component list, the buttons are gone
            await partial.edit(
                content=form_text(form, outcome), allowed_mentions=NO_MENTIONS, view=None
            )
        except FAILURES as exc:
            raise SinkError("Discord edit", reason_of(exc)) from None

    async def on_click(self, interaction: discord.Interaction) -> None:
        """A button of a form: answer it, or open its fields in a modal."""
        parsed = parse_form_id(_custom_id(interaction), FORM_BUTTON)
        form_key = self._ids.form_key(parsed[0]) if parsed else ""
        form = await self._bridge.form(form_key) if form_key else None
        if parsed is None or form is None or parsed[1] >= len(form.actions):
            await interaction.response.send_message(notices.FORM_UNKNOWN, ephemeral=True)
            return
        if not form.fields:
            await interaction.response.defer()  # within 3 s; the answer may take longer
            await self._answer(interaction, form, parsed[1], {})
            return
        if await self._places.conversation_of(interaction) is None:
            await interaction.response.defer()  # not allowed here: acknowledged, ignored
            return
        await interaction.response.send_modal(form_modal(form, parsed[1], self._ids))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """The modal of a form was submitted: its values answer the form."""
        data: Mapping[str, Any] = interaction.data or {}
        parsed = parse_form_id(str(data.get("custom_id", "")), FORM_MODAL)
        await interaction.response.defer()
        form_key = self._ids.form_key(parsed[0]) if parsed else ""
        form = await self._bridge.form(form_key) if form_key else None
        if parsed is None or form is None or parsed[1] >= len(form.actions):
            await self._tell(interaction, notices.FORM_UNKNOWN)
            return
        values: dict[str, str] = {}
        for component in _text_inputs(data.get("components")):
            index = str(component.get("custom_id", ""))[1:]
            if index.isdigit() and int(index) < len(form.fields):
                values[form.fields[int(index)].name] = str(component.get("value") or "")
        await self._answer(interaction, form, parsed[1], values)

    async def _answer(
        self, interaction: discord.Interaction, form: FormView, n: int, values: dict[str, str]
    ) -> None:
        conversation = await self._places.conversation_of(interaction)
        if conversation is None:
            return
        sink = self._asker.sink(conversation)
        name = discord.utils.escape_markdown(interaction.user.display_name)
        said = await self._bridge.submit_form(form.form_key, form.actions[n].id, values, name, sink)
        if said in _TOLD:
            await self._tell(interaction, said)

    async def _tell(self, interaction: discord.Interaction, text: str) -> None:
        try:
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except FAILURES as exc:
            log.info("form notice not shown to %s: %s", interaction.user.id, exc)
