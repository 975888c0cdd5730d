"""One error type: every failure a client can cause is an InstyleError whose code, message and hint are the error
reply; anything else is answered as "internal", with a short hint and no traceback."""

from __future__ import annotations

import pytest

from instyle.cache_errors import CacheError
from instyle.failures import INTERNAL_HINT, failure_reply
from instyle.media import SourceError
from instyle.modelstore import WeightsError
from instyle.wire import EngineError, InstyleError, ProtocolError
from instyle.wire.params import ParamError


@pytest.mark.parametrize("kind", [ProtocolError, SourceError, WeightsError, CacheError, EngineError])
def test_every_kind_of_error_is_an_instyle_error_and_its_reply_round_trips(kind):
    error = kind("some_code", "what went wrong", "what to do")
    assert isinstance(error, InstyleError)
    reply = failure_reply(error, 7)
    assert reply == {"type": "error", "id": 7, "code": "some_code", "message": "what went wrong", "hint": "what to do"}
    again = EngineError.from_reply(reply)
    assert (again.code, again.message, again.hint) == ("some_code", "what went wrong", "what to do")
    assert str(again) == "what went wrong (what to do)"


def test_kinds_give_a_default_hint():
    assert "protocol" in ProtocolError("bad_message", "header must be a JSON object").hint
    assert ParamError("neural_style.iterations = 0 is outside [1, 500]").hint


def test_a_parameter_error_names_its_stage_and_parameter():
    error = ParamError("instance_tracker.merge: '3 to 1' is not OLD=NEW")
    assert (error.code, error.stage, error.param) == ("bad_param", "instance_tracker", "merge")
    assert isinstance(error, ValueError)
    unnamed = ParamError("the style image x.png cannot be read").at_stage("neural_style")
    assert (unnamed.stage, unnamed.param) == ("neural_style", "")
    assert failure_reply(error)["param"] == "merge" and "id" not in failure_reply(error)


def test_at_stage_keeps_a_stage_already_named():
    assert InstyleError("x", "y", stage="mrf_blend").at_stage("neural_style").stage == "mrf_blend"


def test_anything_else_is_internal_with_a_short_hint_and_no_traceback(caplog):
    def broken():
        raise ZeroDivisionError("division by zero")

    with pytest.raises(ZeroDivisionError) as err:
        broken()
    err.value.instyle_stage = "mrf_blend"
    reply = failure_reply(err.value, 3)
    assert reply["code"] == "internal" and reply["hint"] == INTERNAL_HINT and reply["stage"] == "mrf_blend"
    assert "ZeroDivisionError: division by zero" in reply["message"] and "Traceback" not in str(reply)
    assert "Traceback" in caplog.text and "broken" in caplog.text  # the engine's log has it
