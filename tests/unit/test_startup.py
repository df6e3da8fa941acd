"""The start-up collector pause (syncd.startup): a long-running daemon must get its GC back."""

from __future__ import annotations

import gc

from syncd.cli.startup import loading


def test_loading_freezes_what_was_built_and_restores_the_collector() -> None:
    assert gc.isenabled()
    before = gc.get_freeze_count()
    try:
        with loading():
            assert not gc.isenabled()
            built = [{"n": i} for i in range(1000)]  # tracked containers, like a module's objects
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(built)
    finally:
        gc.unfreeze()


def test_loading_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with loading():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
