"""Text that customers send: no control characters anywhere, no bidi controls in names.

A NUL byte in a login name reached PostgreSQL, which refuses it with an error (a 500 with
the SQL parameters in the traceback, issue 11 #11); other C0/C1 controls and DEL have no
place in any field of a banking form either. Names and remarks are shown to other people
(the payee, the counter, the SMS), so they also refuse the Unicode bidi controls, with
which "\u202egpj.exe" reads as "exe.jpg".

Every `str` field of an input schema is `Text` or `NameText`, and every sealed field is
`SealedText` from here; the form helper (`web/forms.py`) applies the same checks.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from wangyin.security import channel
from wangyin.security.channel import SEALED_DOC

# C0 controls, DEL and the C1 controls: no exceptions (not even tab or newline: no field
# of ours is multi-line).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# The Unicode Bidi_Control characters: ALM, LRM, RLM, the embeddings and overrides
# (U+202A–U+202E) and the isolates (U+2066–U+2069).
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def has_control(value: str) -> bool:
    return CONTROL_CHARACTERS.search(value) is not None


def has_bidi_control(value: str) -> bool:
    return BIDI_CONTROLS.search(value) is not None


def refuse_controls(value: str) -> str:
    if has_control(value):
        raise PydanticCustomError("control_character", "control characters are not allowed")
    return value


def refuse_bidi(value: str) -> str:
    if has_bidi_control(value):
        raise PydanticCustomError(
            "bidi_control", "bidirectional control characters are not allowed"
        )
    return value


# Any text input: identifiers, numbers, codes, login names, amounts.
Text = Annotated[str, AfterValidator(refuse_controls)]
# Names and remarks, which other people read.
NameText = Annotated[str, AfterValidator(refuse_controls), AfterValidator(refuse_bidi)]


class Envelope(channel.Envelope):
    """`wangyin.security.channel.Envelope` whose key id (looked up in the database) is
    text like any other. The same name, so that the API's schema still says Envelope."""

    kid: Text = Field(min_length=1, max_length=40, description="The channel's key id")


# A sensitive value (see `wangyin.security.channel.SealedText`): the envelope's key id and
# the plain alternative refuse control characters like any other text.
SealedText = Annotated[
    Envelope | Annotated[Text, StringConstraints(min_length=1, max_length=128)],
    Field(description=SEALED_DOC),
]
