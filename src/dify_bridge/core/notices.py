"""Every sentence the bridge shows users, in one place (Markdown; adapters render it).

Platform adapters add only what is theirs alone (button labels, a Slack
sign-in hint); everything a user reads about an answer, a failure or a
command comes from here, so Slack, Discord and the console say the same.
"""

from __future__ import annotations

from dify_bridge.errors import (
    AuthFailed,
    ConversationNotFound,
    DifyError,
    DifyUnavailable,
    InvalidRequest,
    MessageNotFound,
    RateLimited,
    StreamCutOff,
    StreamFailed,
)

__all__ = [
    "CUT_NOTICE",
    "CUT_OFF",
    "EMPTY_ANSWER",
    "EMPTY_MESSAGE",
    "FEEDBACK_NOT_SENT",
    "FEEDBACK_THANKS",
    "FORM_BELOW",
    "FORM_BY_EMAIL",
    "FORM_EXPIRED",
    "FORM_GONE",
    "FORM_INVALID",
    "FORM_IN_DIFY",
    "FORM_SUBMITTED",
    "FORM_TAKEN",
    "FORM_TIMEOUT",
    "FORM_UNKNOWN",
    "FORM_WAITING",
    "INTERRUPTED",
    "LOST_CONTEXT",
    "NEW_IN_CHANNEL",
    "NEW_IN_PRIVATE",
    "NOT_HERE",
    "PAUSED",
    "RECONNECTING",
    "STOPPED",
    "THINKING",
    "TOO_MANY_FROM_YOU",
    "TOO_MANY_HERE",
    "UNEXPECTED",
    "asked_line",
    "for_error",
    "for_form_error",
    "form_chosen",
    "help_text",
    "too_long",
]

LOST_CONTEXT = "_(The earlier conversation was no longer available, so this starts a new one.)_"
EMPTY_MESSAGE = "Hi! Ask me anything in this thread and I will answer here."
EMPTY_ANSWER = "_(The assistant returned an empty answer.)_"
INTERRUPTED = "_(Interrupted: the bridge is restarting. Please ask again in a moment.)_"
UNEXPECTED = "Something went wrong on our side while answering. Please try again."
STOPPED = "_(Stopped.)_"
PAUSED = "_(The workflow is now waiting for someone's input, which this bot cannot show here yet.)_"
"""A chatflow paused at a Human Input node. Never "ask again": that would run it twice."""
FORM_BELOW = "_(The workflow is waiting for someone to answer the form below.)_"
FORM_BY_EMAIL = (
    "This form was sent by e-mail: please answer it from that e-mail. "
    "It cannot be answered in this thread."
)
FORM_IN_DIFY = (
    "This form asks for files, which cannot be given here: please answer it in the "
    "assistant's Dify app."
)
FORM_WAITING = (
    "The workflow is waiting for an answer to the form above: please answer it there first. "
    "(This message was not sent to the assistant.)"
)
FORM_TAKEN = "This form has already been answered."
FORM_UNKNOWN = "This form is no longer known to the bridge."
FORM_SUBMITTED = "This form was already answered elsewhere, so this answer was not sent."
FORM_EXPIRED = "This form has expired, so this answer was not sent."
FORM_INVALID = (
    "The assistant did not accept this answer to the form (a field is missing or not valid). "
    "Please check it and answer again."
)
FORM_TIMEOUT = "No one answered the form in time, so the workflow went on without it."
FORM_GONE = "The assistant no longer knows this form."
THINKING = "💭 Thinking…"
"""The live status while the model reasons (its reasoning is never shown)."""
RECONNECTING = "🔄 Reconnecting to the assistant…"
"""The live status while a broken chatflow stream is resumed."""
CUT_OFF = "The answer was cut off before it was complete. Please ask again."
"""Under the part of an answer that arrived when Dify's stream ended early (after ⚠️)."""
CUT_NOTICE = "\n\n_(The answer was too long and has been cut here.)_"
FEEDBACK_THANKS = "Thanks, your feedback was sent."
FEEDBACK_NOT_SENT = "Your feedback could not be sent: the assistant no longer knows that answer."
NOT_HERE = "I am not set up to answer here."
TOO_MANY_FROM_YOU = (
    "You are asking faster than I can keep up with. Please wait a minute and ask again."
)
TOO_MANY_HERE = "Lots of questions here at once. Please wait a minute and ask again."
"""Over ``QUESTIONS_PER_USER_PER_MINUTE`` / ``QUESTIONS_PER_CHANNEL_PER_MINUTE``."""

NEW_IN_PRIVATE = "Starting fresh: your next message here begins a new conversation."
NEW_IN_CHANNEL = (
    "Each thread is its own conversation, so your next mention of me in this channel "
    "starts a fresh one in a new thread. Replies inside an existing thread continue "
    "that thread's conversation."
)

_BY_ERROR: tuple[tuple[type[DifyError], str], ...] = (
    (StreamCutOff, CUT_OFF),
    (
        AuthFailed,
        "The assistant is not reachable with its current key. An admin needs to check it.",
    ),
    (ConversationNotFound, "This conversation no longer exists on the assistant's side."),
    (MessageNotFound, "That answer is no longer known to the assistant."),
    (RateLimited, "The assistant is busy right now. Please try again in a minute."),
    (InvalidRequest, "The assistant rejected this message."),
    (DifyUnavailable, "The assistant is unavailable right now. Please try again in a moment."),
    (StreamFailed, "The assistant ran into an error while answering."),
)


_BY_CODE: dict[str, str] = {
    # Dify's own codes (api/controllers/service_api/app/error.py, controllers/web/error.py;
    # mid-stream `error` events: base_app_generate_response_converter.py)
    "provider_quota_exceeded": (
        "The assistant's AI model has used up its quota with the model provider. "
        "An admin of the Dify workspace needs to top it up or add the team's own provider "
        "key (Settings → Model Provider)."
    ),
    "provider_not_initialize": (
        "The assistant's AI model is not set up: Dify has no valid credentials for its "
        "model provider. An admin of the Dify workspace needs to add them "
        "(Settings → Model Provider)."
    ),
    "model_currently_not_support": (
        "The AI model this assistant is set to use is not available on the current Dify "
        "plan. An admin needs to pick another model for the app in Dify."
    ),
    "app_unavailable": (
        "The assistant's app in Dify is unavailable: its configuration is broken or "
        "incomplete. An admin needs to check and publish the app in Dify."
    ),
    "conversation_completed": (
        "This conversation has been closed on the assistant's side. "
        "Please start a new conversation to go on (the `new` command)."
    ),
    "rate_limit_error": (
        "The assistant has reached the request limit of its Dify plan for now. Please "
        "try again in a few minutes; an admin can raise the limit with a larger plan."
    ),
}
"""Errors a person can act on, by Dify's code: what is wrong and who can fix it."""


def for_error(exc: DifyError) -> str:
    """The one line a user reads when Dify failed in the way ``exc`` says."""
    if exc.code in _BY_CODE:
        return _BY_CODE[exc.code]
    for kind, sentence in _BY_ERROR:  # most specific first (StreamCutOff is a DifyUnavailable)
        if isinstance(exc, kind):
            return sentence
    return "The assistant could not answer this time. Please try again."


def too_long(length: int, limit: int) -> str:
    return (
        f"Your message is {length:,} characters long; the assistant takes at most "
        f"{limit:,}. Please shorten it or split it into parts."
    )


_FORM_ERRORS = {
    "human_input_form_submitted": FORM_SUBMITTED,
    "human_input_form_expired": FORM_EXPIRED,
    "invalid_form_data": FORM_INVALID,
    "human_input_form_timeout": FORM_TIMEOUT,
}


def for_form_error(exc: DifyError) -> str:
    """The one line shown when Dify refused an answer to a form."""
    if exc.code in _FORM_ERRORS:
        return _FORM_ERRORS[exc.code]
    if exc.status == 404:
        return FORM_GONE
    return for_error(exc)


def form_chosen(name: str, action: str) -> str:
    """What an answered form shows in place of its buttons (Markdown)."""
    return f"✅ **{name or 'Someone'}** chose **{action}**."


def asked_line(speaker: str, question: str) -> str:
    """Shown in the thread when someone clicks a suggested question (Markdown)."""
    return f"💬 **{speaker or 'Someone'}** asked: {question}"


def help_text(command: str) -> str:
    """What the commands do; ``command`` is how this platform spells them (``/dify ``, ``/``)."""
    return (
        f"**{command.strip() or '/'}** talks to the assistant:\n"
        f"• `{command}new`: start a fresh conversation\n"
        f"• `{command}status`: which assistant and conversation are in use\n"
        f"• `{command}help`: this message\n"
        "Mention me in a channel to ask a question; I answer in a thread."
    )
