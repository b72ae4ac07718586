"""Local validation and tolerant parsing: everything here runs without a network."""

from __future__ import annotations

from pathlib import Path

import pytest

from foxnb.errors import ValidationError
from foxnb.models import ExtendRequest, Task, UploadedFile

URL = "https://example.com/in.mp4"


def make(**over: object) -> ExtendRequest:
    fields: dict[str, object] = {"prompt": "keep panning", "video": URL, **over}
    return ExtendRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("prompt", "", "prompt: is empty"),
        ("prompt", "   ", "prompt: is empty"),
        ("model", "veo-3.1-extnd", "did you mean 'veo-3.1-extend'"),
        ("model", "sora-2", "'veo-3.1-extend-fast'"),
        ("aspect_ratio", "4:3", "allowed: '16:9', '9:16'"),
        ("generate_audio", "yes", "generate_audio: must be True or False"),
        ("auto_fix", 1, "auto_fix"),
        ("safety_tolerance", 0, "1 (strictest) to 6"),
        ("safety_tolerance", 7, "got 7"),
        ("safety_tolerance", 3.0, "got 3.0"),
        ("safety_tolerance", True, "got True"),
        ("negative_prompt", ["blurry"], "negative_prompt: must be text"),
        ("seed", -1, "seed: must be an integer from 0 to 4,294,967,295"),
        ("seed", 2**32, "got 4294967296"),
        ("seed", 2**63, "got 9223372036854775808"),
        ("seed", "42", "seed"),
        ("seed", False, "seed"),
        ("video", "ftp://host/x.mp4", "scheme 'ftp'"),
        ("video", "javascript:alert(1)", "scheme 'javascript'"),
        ("video", "file:///etc/passwd", "scheme 'file'"),
        ("video", "/no/such/clip.mp4", "no file at"),
        ("video", "", "video: is empty"),
    ],
)
def test_bad_field_names_field_and_allowed_values(field: str, value: object, needle: str) -> None:
    """Each invalid field raises a ValidationError (also a ValueError) naming the field."""
    with pytest.raises(ValidationError) as info:
        make(**{field: value})
    assert isinstance(info.value, ValueError)
    assert info.value.field == field
    assert needle in str(info.value)


def test_directory_is_not_a_video(tmp_path: Path) -> None:
    """A folder passed as the video is refused with a message saying so."""
    with pytest.raises(ValidationError, match="is a folder"):
        make(video=str(tmp_path))


def test_unset_optional_fields_are_not_sent() -> None:
    """Advanced fields left as None are absent from the JSON body."""
    body = make().to_json()
    assert body == {
        "model": "veo-3.1-extend",
        "prompt": "keep panning",
        "video_url": URL,
        "generate_audio": True,
    }
    assert make(aspect_ratio="9:16").to_json()["aspect_ratio"] == "9:16"
    full = make(seed=0, safety_tolerance=6, auto_fix=False, negative_prompt="blur").to_json()
    assert full["seed"] == 0 and full["safety_tolerance"] == 6 and full["auto_fix"] is False


def test_local_video_needs_its_upload_url(tmp_path: Path) -> None:
    """A local file cannot be sent as is; the uploaded URL replaces it."""
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"x")
    req = make(video=str(clip))
    assert req.is_local
    with pytest.raises(ValidationError):
        req.to_json()
    assert req.to_json(URL)["video_url"] == URL


@pytest.mark.parametrize(
    ("payload", "urls"),
    [
        ({"results": [{"url": "https://cdn/x.mp4"}]}, ("https://cdn/x.mp4",)),
        ({"results": ["https://cdn/y.mp4"]}, ("https://cdn/y.mp4",)),
        (
            {
                "output": {
                    "url": "https://cdn/a.mp4",
                    "urls": ["https://cdn/a.mp4", "https://cdn/b.mp4"],
                }
            },
            ("https://cdn/a.mp4", "https://cdn/b.mp4"),
        ),
        ({"results": None}, ()),
        ({"results": []}, ()),
    ],
)
def test_every_documented_result_shape_is_read(
    payload: dict[str, object], urls: tuple[str, ...]
) -> None:
    """results as objects or strings, and the older output object, all yield the URLs."""
    task = Task.from_json({"id": "task-unified-1-abcdefgh", "status": "completed", **payload})
    assert task.result_urls == urls


def test_task_errors_with_string_or_numeric_codes() -> None:
    """error.code may be a string or a number; status is normalised; cancelled is terminal."""
    failed = Task.from_json(
        {"id": "t", "status": "FAILED", "error": {"code": 500, "message": "boom"}}
    )
    assert failed.status == "failed" and failed.error is not None and failed.error.code == "500"
    old = Task.from_json({"id": "t", "status": "failed", "error": {"code": "generation_failed"}})
    assert old.error is not None and old.error.message == "generation_failed"
    assert Task.from_json({"id": "t", "status": "cancelled"}).is_terminal
    weird = Task.from_json(
        {
            "id": "t",
            "status": "processing",
            "progress": "57.5",
            "task_info": {"estimated_time": "45"},
            "usage": {"credits_reserved": 5},
        }
    )
    assert (weird.progress, weird.estimated_time_s, weird.credits) == (57, 45.0, 5.0)
    with pytest.raises(ValueError):
        Task.from_json({"status": "pending"})


def test_raw_is_the_whole_answer_exactly_and_a_new_dict_each_read() -> None:
    """``raw`` holds every field, unknown and nested ones, a 70-bit integer and a non-ASCII
    text exactly as sent; the task's own fields come from the unwrapped task."""
    answer = {
        "id": "t",
        "status": "processing",
        "vendor": {"queue": [1, 2**70], "note": "é—✓"},
        "progress": "12%",
    }
    task = Task.from_json({"code": 0, "data": answer})
    assert task.raw == answer and task.progress == 12
    task.raw["vendor"]["queue"].append(3)  # a copy: the task itself cannot be changed
    assert task.raw == answer


def test_upload_response() -> None:
    """The upload response's url is what gets sent as video_url."""
    up = UploadedFile.from_json({"id": "file-1", "url": URL, "size": 3, "filename": "c.mp4"})
    assert up.url == URL and up.size == 3
    with pytest.raises(ValueError):
        UploadedFile.from_json({"id": "file-1"})
