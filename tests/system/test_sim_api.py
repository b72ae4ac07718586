"""The simulator's request handling over loopback HTTP: auth, validation, uploads, credits."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from foxnb.sim import Simulator
from foxnb.sim.payloads import task_json
from foxnb.sim.states import Status

VIDEO_URL = "https://example.com/input.mp4"
VALID: dict[str, Any] = {
    "model": "veo-3.1-extend",
    "prompt": "keep panning",
    "video_url": VIDEO_URL,
}


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    # speed=1 keeps every task pending for the whole module: nothing renders.
    with Simulator(speed=1, api_key="sk-sim-testkey0001") as running:
        yield running


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    return dict(response.json()["error"])


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": "sk-sim-testkey0001"}],
)
def test_missing_or_wrong_key_is_401(shared_sim: Simulator, headers: dict[str, str]) -> None:
    """Every /v1 endpoint needs 'Authorization: Bearer <the key>'."""
    for method, path in [
        ("POST", "/v1/videos/generations"),
        ("GET", "/v1/tasks/x"),
        ("POST", "/v1/files/upload/base64"),
    ]:
        response = httpx.request(method, shared_sim.url + path, headers=headers, json=VALID)
        assert response.status_code == 401
        assert error_of(response)["type"] == "authentication_error"


def test_repr_masks_the_key(shared_sim: Simulator) -> None:
    """repr shows only the key's prefix and last four characters."""
    assert "testkey0001" not in repr(shared_sim) and "sk-sim-…0001" in repr(shared_sim)


def test_unknown_task_is_404(api: httpx.Client) -> None:
    """Querying an id that was never created gives 404 with type not_found."""
    response = api.get("/v1/tasks/task-unified-1-abcdefgh")
    assert response.status_code == 404
    assert error_of(response)["type"] == "not_found"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("application/json", b"{not json"), ("text/plain", b"{}"), ("application/json", b"[1]")],
)
def test_bad_json_or_content_type_is_400(api: httpx.Client, content_type: str, body: bytes) -> None:
    """A body that is not a JSON object, or not sent as application/json, gets 400."""
    response = api.post(
        "/v1/videos/generations", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"model": None}, "model", "missing_parameter"),
        ({"model": "veo-3.1"}, "model", "model_not_supported"),
        ({"prompt": None}, "prompt", "missing_parameter"),
        ({"prompt": "  "}, "prompt", "invalid_parameter"),
        ({"prompt": 5}, "prompt", "invalid_parameter"),
        ({"video_url": None}, "video_url", "missing_parameter"),
        ({"video_url": "input.mp4"}, "video_url", "invalid_parameter"),
        ({"aspect_ratio": "4:3"}, "aspect_ratio", "invalid_parameter"),
        ({"generate_audio": "yes"}, "generate_audio", "invalid_parameter"),
        ({"auto_fix": "on"}, "auto_fix", "invalid_parameter"),
        ({"safety_tolerance": 0}, "safety_tolerance", "invalid_parameter"),
        ({"safety_tolerance": 7}, "safety_tolerance", "invalid_parameter"),
        ({"safety_tolerance": True}, "safety_tolerance", "invalid_parameter"),
        ({"safety_tolerance": "3"}, "safety_tolerance", "invalid_parameter"),
        ({"negative_prompt": 1}, "negative_prompt", "invalid_parameter"),
        ({"seed": -1}, "seed", "invalid_parameter"),
        ({"seed": 1.5}, "seed", "invalid_parameter"),
        ({"seed": False}, "seed", "invalid_parameter"),
        ({"advanced": {}}, "advanced", "unsupported_advanced_options"),
    ],
)
def test_invalid_field_is_422_naming_the_field(
    shared_sim: Simulator, api: httpx.Client, change: dict[str, Any], param: str, code: str
) -> None:
    """Each invalid or missing field gets 422 with its code, its name and no task created."""
    before = shared_sim.backend.task_count
    body = {key: value for key, value in {**VALID, **change}.items() if value is not None}
    response = api.post("/v1/videos/generations", json=body)
    assert response.status_code == 422
    error = error_of(response)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert param in error["message"]
    assert shared_sim.backend.task_count == before


def test_aspect_ratio_error_lists_allowed_values(api: httpx.Client) -> None:
    """A 422 message says which values are allowed."""
    response = api.post("/v1/videos/generations", json={**VALID, "aspect_ratio": "1:1"})
    assert "16:9" in error_of(response)["message"] and "9:16" in error_of(response)["message"]


def test_optional_fields_and_video_alias_are_accepted(
    shared_sim: Simulator, api: httpx.Client
) -> None:
    """Documented optional fields pass, 'video' stands for 'video_url', unknown keys are ignored."""
    body = {
        "model": "veo-3.1-extend-fast",
        "prompt": "继续向前",
        "video": VIDEO_URL,
        "aspect_ratio": "9:16",
        "generate_audio": False,
        "auto_fix": None,
        "safety_tolerance": 6,
        "negative_prompt": "blurry, watermark",
        "seed": 0,
        "callback_url": "https://example.com/hook",
    }
    response = api.post("/v1/videos/generations", json=body)
    assert response.status_code == 200, response.text
    record = shared_sim.backend.task(response.json()["id"])
    assert record is not None
    assert (record.params.input_field, record.params.video_url) == ("video", VIDEO_URL)
    assert record.seed == 0 and record.credits == 50


def test_requests_without_seed_get_a_drawn_seed(shared_sim: Simulator, api: httpx.Client) -> None:
    """The simulator picks a seed when the request has none, and records it."""
    task_id = api.post("/v1/videos/generations", json=VALID).json()["id"]
    record = shared_sim.backend.task(task_id)
    assert record is not None and record.params.seed is None and record.seed >= 0


def test_pending_task_json_has_documented_shape(api: httpx.Client) -> None:
    """A task query returns SPEC §2a's fields, with results and error null while pending."""
    task_id = api.post("/v1/videos/generations", json=VALID).json()["id"]
    body = api.get(f"/v1/tasks/{task_id}").json()
    assert set(body) == {
        "id",
        "object",
        "type",
        "model",
        "status",
        "progress",
        "created",
        "results",
        "error",
        "usage",
        "task_info",
    }
    assert (body["status"], body["progress"], body["results"], body["error"]) == (
        "pending",
        0,
        None,
        None,
    )
    assert body["usage"] == {
        "billing_rule": "per_call",
        "credits_reserved": 100,
        "user_group": "default",
    }


def test_upload_stream_and_base64_serve_the_same_bytes(api: httpx.Client) -> None:
    """Both upload endpoints answer {id, filename, url, size, created}; the URL serves the bytes."""
    payload = bytes(range(256)) * 40
    streamed = api.post(
        "/v1/files/upload/stream",
        files={"file": ("clip.mp4", payload, "video/mp4")},
        data={"file_name": "renamed.mp4"},
    ).json()
    encoded = base64.b64encode(payload).decode()
    inline = api.post(
        "/v1/files/upload/base64",
        json={"file_data": f"data:video/mp4;base64,{encoded}", "file_name": "inline.mp4"},
    ).json()
    raw = api.post("/v1/files/upload/base64", json={"file_data": encoded}).json()
    for body, name in [(streamed, "renamed.mp4"), (inline, "inline.mp4"), (raw, "upload.bin")]:
        assert set(body) == {"id", "filename", "url", "size", "created"}
        assert (
            body["id"].startswith(f"file-{body['created']}-")
            and len(body["id"].rsplit("-", 1)[1]) == 6
        )
        assert (body["filename"], body["size"]) == (name, len(payload))
        assert body["url"].endswith(f"/{body['id']}/{name}")
        served = httpx.get(body["url"])  # public: no key
        assert served.status_code == 200 and served.content == payload


def test_bad_uploads_are_rejected(api: httpx.Client) -> None:
    """Invalid base64 is 422; a multipart body without 'file' is 422; JSON to /stream is 400."""
    bad = api.post("/v1/files/upload/base64", json={"file_data": "***"})
    assert bad.status_code == 422 and error_of(bad)["param"] == "file_data"
    no_file = api.post("/v1/files/upload/stream", files={"other": ("a.txt", b"x")})
    assert no_file.status_code == 422 and error_of(no_file)["param"] == "file"
    assert api.post("/v1/files/upload/stream", json={}).status_code == 400


def test_storage_quota_evicts_or_refuses() -> None:
    """When storage is full, auto_cleanup=true evicts the oldest upload and false gets 403."""
    with Simulator(upload_quota_bytes=10_000) as small:
        headers = {"Authorization": f"Bearer {small.api_key}"}
        with httpx.Client(base_url=small.url, headers=headers) as http:

            def send(auto_cleanup: str) -> httpx.Response:
                return http.post(
                    "/v1/files/upload/stream",
                    files={"file": ("a.bin", b"x" * 6000)},
                    data={"auto_cleanup": auto_cleanup},
                )

            first = send("true").json()["url"]
            refused = send("false")
            assert refused.status_code == 403
            assert error_of(refused)["code"] == "storage_quota_exceeded"
            assert send("true").status_code == 200
            assert httpx.get(first).status_code == 404


def test_oversized_upload_gets_edge_html_413() -> None:
    """A body over max_upload_bytes is refused with a non-JSON HTML 413, as an edge would."""
    with Simulator(max_upload_bytes=4096) as small:
        headers = {"Authorization": f"Bearer {small.api_key}"}
        response = httpx.post(
            small.url + "/v1/files/upload/stream",
            headers=headers,
            files={"file": ("big.bin", b"x" * 8000)},
        )
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("text/html")
        chunked = httpx.post(
            small.url + "/v1/files/upload/base64",
            headers={**headers, "Content-Type": "application/json"},
            content=iter([b'{"file_data": "', b"A" * 8000, b'"}']),
        )
        assert chunked.status_code == 413


def test_short_balance_is_402_and_refused_task_not_created() -> None:
    """With too few credits a create gets 402 insufficient_quota; a cheaper model still fits."""
    with Simulator(balance_credits=150) as poor:
        headers = {"Authorization": f"Bearer {poor.api_key}"}
        with httpx.Client(base_url=poor.url, headers=headers) as http:
            assert http.post("/v1/videos/generations", json=VALID).status_code == 200
            refused = http.post("/v1/videos/generations", json=VALID)
            assert refused.status_code == 402
            assert error_of(refused)["type"] == "insufficient_quota"
            fast = {**VALID, "model": "veo-3.1-extend-fast"}
            assert http.post("/v1/videos/generations", json=fast).status_code == 200
            assert poor.backend.task_count == 2 and poor.backend.balance_credits == 0


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("results", {"results": [{"url": "U"}]}),
        ("strings", {"results": ["U"]}),
        ("output", {"output": {"url": "U", "urls": ["U"]}}),
    ],
)
def test_result_shapes(
    shared_sim: Simulator, api: httpx.Client, shape: str, expected: dict[str, Any]
) -> None:
    """result_shape switches a completed task between the documented and older URL shapes."""
    task_id = api.post("/v1/videos/generations", json=VALID).json()["id"]
    record = shared_sim.backend.task(task_id)
    assert record is not None
    body = task_json(record, Status.COMPLETED, 100, result_url="U", result_shape=shape)
    assert {key: body[key] for key in expected} == expected
    assert ("results" in body) == (shape != "output")


def test_cancelled_is_terminal_and_refunded(shared_sim: Simulator, api: httpx.Client) -> None:
    """A test-scripted cancellation shows status cancelled, can_cancel false, credits back."""
    balance = shared_sim.backend.balance_credits
    task_id = api.post("/v1/videos/generations", json=VALID).json()["id"]
    shared_sim.backend.cancel_task(task_id)
    body = api.get(f"/v1/tasks/{task_id}?sync_upstream=true").json()
    assert body["status"] == "cancelled" and body["task_info"]["can_cancel"] is False
    assert shared_sim.backend.balance_credits == balance
