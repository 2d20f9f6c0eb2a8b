"""The package's public names: what adapters and library users may import, pinned."""

from __future__ import annotations

import importlib
import pkgutil

import dify_bridge
import dify_bridge.core
import dify_bridge.errors
import dify_bridge.keys

CORE = {
    "AccessPolicy",
    "ActionKind",
    "Adapter",
    "AnswerMarker",
    "AppendingSink",
    "Attachment",
    "AudioSink",
    "BoundedDict",
    "BoundedSet",
    "Bridge",
    "BridgeError",
    "BridgeOptions",
    "CommandRequest",
    "ConfigError",
    "Controls",
    "EditBudget",
    "FileTooLarge",
    "FormAction",
    "FormBoard",
    "FormField",
    "FormView",
    "Incoming",
    "InstallationRecord",
    "InstallationRecords",
    "LeftAnswer",
    "Message",
    "MessageKey",
    "Opening",
    "Presence",
    "Rating",
    "Reaction",
    "ReplySink",
    "RouteScope",
    "Said",
    "ShardClaims",
    "SinkError",
    "SinkLimits",
    "ThreadKey",
    "dify_user_for",
    "history",
    "loop_step",
    "notices",
    "tables_as_code",
}


def test_the_core_facade_offers_what_adapters_use() -> None:
    assert set(dify_bridge.core.__all__) == CORE
    for name in CORE:
        assert getattr(dify_bridge.core, name) is not None


def test_the_exception_tree_is_public() -> None:
    errors = dify_bridge.errors
    assert all(issubclass(getattr(errors, n), errors.BridgeError) for n in errors.__all__)
    assert {"SinkError", "DifyError", "StoreError", "ConfigError"} <= set(errors.__all__)


def test_every_module_says_what_it_offers() -> None:
    without = []
    import dify_bridge.adapters

    found = list(pkgutil.walk_packages(dify_bridge.__path__, "dify_bridge."))
    found += pkgutil.walk_packages(dify_bridge.adapters.__path__, "dify_bridge.adapters.")
    for module in found:
        if module.name.endswith("__main__"):
            continue
        loaded = importlib.import_module(module.name)
        names = getattr(loaded, "__all__", None)
        if names is None:
            without.append(module.name)
            continue
        missing = [n for n in names if not hasattr(loaded, n)]
        assert not missing, f"{module.name}.__all__ names what it lacks: {missing}"
    assert not without, f"modules without __all__: {without}"
