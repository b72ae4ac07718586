"""Errors from code: every bad field at once, in one short message of plain words."""

from __future__ import annotations

import pytest

from foxnb.errors import ValidationError, VideoInputError
from foxnb.models import ExtendRequest

URL = "https://example.com/in.mp4"


def test_every_bad_field_is_named_at_once() -> None:
    """Three bad fields: one error listing all three, in field order, one line each."""
    with pytest.raises(ValidationError) as info:
        ExtendRequest(prompt="", video=URL, seed=-1, safety_tolerance=9)
    error = info.value
    assert error.fields == ("prompt", "safety_tolerance", "seed") and error.field == "prompt"
    lines = str(error).splitlines()
    assert lines[0] == "3 problems, nothing was sent:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == list(error.fields)
    assert all(len(line) < 160 for line in lines)


def test_one_bad_field_is_its_own_error() -> None:
    """A single problem keeps its own type, field and one-line message."""
    with pytest.raises(ValidationError) as info:
        ExtendRequest(prompt="Pan left", video=URL, seed=-1)
    assert info.value.errors == [info.value] and str(info.value).startswith("seed: ")
    assert "\n" not in str(info.value)


def test_combined_type_is_the_common_one() -> None:
    """VideoInputError only when every problem is one; otherwise a plain ValidationError."""
    clip = VideoInputError("video", "is 480p")
    seed = ValidationError("seed", "is negative")
    assert type(ValidationError.combine([clip, seed])) is ValidationError
    both = ValidationError.combine([clip, VideoInputError("video", "has no video stream")])
    assert isinstance(both, VideoInputError) and len(both.errors) == 2
    assert ValidationError.combine([seed]) is seed


@pytest.mark.parametrize(
    ("prompt", "plain"),
    [
        ("", "is empty"),
        ("pan \u202eleft", "changes the text's direction"),
        ("pan \ud800 left", "broken character"),
        ("pan\x07left", "invisible control character"),
    ],
)
def test_text_messages_are_plain_words(prompt: str, plain: str) -> None:
    """No jargon (surrogates, bidirectional overrides) in what a user reads."""
    with pytest.raises(ValidationError) as info:
        ExtendRequest(prompt=prompt, video=URL)
    text = str(info.value)
    assert plain in text and "surrogate" not in text and "bidirectional" not in text
