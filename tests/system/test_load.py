"""Load over real loopback sockets: 1,000 jobs in one session, 50 clients on one simulator.

The simulator runs in its own process (``python -m foxnb.sim``, as a user would start it) so
that the client's memory and the server's are measured apart and neither takes the other's
interpreter lock. Every task of one input shares one rendering (``--no-distinct-results``):
what is loaded is the API, not the simulator's video encoder. Each test prints its figures.
"""

from __future__ import annotations

import gc
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

import foxnb

pytestmark = pytest.mark.serial  # measures time and memory: runs alone

MB = 1024**2


@dataclass
class SimProcess:
    url: str
    api_key: str
    process: subprocess.Popen[str]


@pytest.fixture
def sim_process(request: pytest.FixtureRequest) -> Iterator[SimProcess]:
    """``python -m foxnb.sim`` on a free loopback port, at the speed the test parametrizes."""
    speed = request.param
    api_key = "sk-sim-" + secrets.token_hex(12)
    command = [
        *(sys.executable, "-m", "foxnb.sim", "--port", "0", "--speed", str(speed)),
        *("--api-key", api_key, "--balance-credits", str(10**9), "--upstream-lag-s", "0"),
        "--no-distinct-results",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" at ", 1)[1].split()[0]
        yield SimProcess(url, api_key, process)
    finally:
        process.terminate()
        process.wait(30)


class Counting(httpx.AsyncHTTPTransport):
    """The real transport, counting requests by method and first path segment."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[tuple[str, str]] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")
        self.counts[(request.method, parts[2] if parts[1] == "v1" else parts[1])] += 1
        return await super().handle_async_request(request)


JOBS = 1000


@pytest.mark.slow
# At speed 4 a task takes 16-32 s: about as long as submitting all 1,000 on a busy 2-core machine.
@pytest.mark.parametrize("sim_process", [4], indirect=True, ids=["speed 4"])
def test_the_engine_tracks_1000_concurrent_jobs(
    sim_process: SimProcess, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """1,000 fx.extend() calls in one session: all complete, nearly all tracked at once (the
    first tasks may end while the last are submitted), client memory growth under 200 MB."""
    counting = Counting()
    fx = foxnb.connect(
        api_key=sim_process.api_key,
        base_url=sim_process.url,
        workdir=tmp_path / "runs",
        quiet=True,
        rate_per_s=1000,  # the default 5/s would spend 200 s on the creates alone
        transport=counting,
    )
    me = psutil.Process()
    gc.collect()
    start_rss = peak_rss = me.memory_info().rss
    started = time.monotonic()
    jobs = [fx.extend("The camera keeps panning", clips["landscape"], seed=i) for i in range(JOBS)]
    submitted_s = time.monotonic() - started
    most_tracked = 0
    deadline = started + 300
    while not all(job.done for job in jobs):
        assert time.monotonic() < deadline, Counter(job.status for job in jobs)
        time.sleep(0.1)
        peak_rss = max(peak_rss, me.memory_info().rss)
        most_tracked = max(most_tracked, sum(j.task_id is not None and not j.done for j in jobs))
    elapsed_s = time.monotonic() - started
    requests = sum(counting.counts.values())
    gets_per_job = counting.counts[("GET", "tasks")] / JOBS
    print(
        f"\n{JOBS} jobs: submitted in {submitted_s:.1f} s, all done in {elapsed_s:.1f} s, "
        f"{most_tracked} tracked at once; RSS {start_rss / MB:.0f} MB + "
        f"{(peak_rss - start_rss) / MB:.0f} MB at peak; {requests} requests "
        f"({requests / elapsed_s:.0f}/s), {gets_per_job:.2f} task GETs per job; "
        f"{dict(counting.counts)}"
    )
    assert Counter(job.status for job in jobs) == {"completed": JOBS}
    assert len({job.task_id for job in jobs}) == JOBS and most_tracked >= 0.9 * JOBS
    assert counting.counts[("POST", "videos")] == JOBS and counting.counts[("POST", "files")] == 1
    assert peak_rss - start_rss < 200 * MB
    assert gets_per_job < 6  # a generous bound; the benchmark holds the real target
    for job in jobs:  # ~300 MB of identical videos: not worth keeping in the temp folder
        assert job.video_path is not None
        job.video_path.unlink()


CLIENTS = 50
LOAD_S = 10.0


@pytest.mark.slow
@pytest.mark.parametrize("sim_process", [200], indirect=True, ids=["speed 200"])
def test_the_simulator_serves_50_concurrent_clients(
    sim_process: SimProcess, clips: dict[str, Path]
) -> None:
    """50 threads create, poll and download for 10 s: every answer a 2xx, memory flat."""
    headers = {"Authorization": f"Bearer {sim_process.api_key}"}
    body = {"model": "veo-3.1-extend", "prompt": "pan"}
    with httpx.Client(base_url=sim_process.url, headers=headers, timeout=30) as http:
        files = {"file": ("clip.mp4", clips["landscape"].read_bytes())}
        body["video_url"] = http.post("/v1/files/upload/stream", files=files).json()["url"]
        # One job first: the one shared rendering is made before the load, not during it.
        task = http.post("/v1/videos/generations", json=body).json()
        while task["status"] != "completed":
            time.sleep(0.1)
            task = http.get(f"/v1/tasks/{task['id']}?sync_upstream=true").json()
    answers: Counter[int | str] = Counter()
    latencies_s: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + LOAD_S

    def call(http: httpx.Client, method: str, path: str, **kw: object) -> httpx.Response | None:
        sent = time.monotonic()
        try:
            response = http.request(method, path, **kw)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            with lock:
                answers[type(exc).__name__] += 1
            return None
        with lock:
            latencies_s.append(time.monotonic() - sent)
            answers[response.status_code] += 1
        return response

    def client(index: int) -> None:
        with httpx.Client(base_url=sim_process.url, headers=headers, timeout=30) as http:
            while time.monotonic() < stop_at:
                created = call(http, "POST", "/v1/videos/generations", json={**body, "seed": index})
                if created is None or created.status_code != 200:
                    continue
                task: dict[str, object] = created.json()
                while task.get("status") not in ("completed", "failed"):
                    time.sleep(0.1)
                    read = call(http, "GET", f"/v1/tasks/{task['id']}?sync_upstream=true")
                    if read is None or read.status_code != 200:
                        break
                    task = read.json()
                results = task.get("results")
                if isinstance(results, list) and results:
                    video = call(http, "GET", results[0]["url"])
                    with lock:
                        answers["videos"] += video is not None and len(video.content) > 10_000

    server = psutil.Process(sim_process.process.pid)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    rss_mb: list[tuple[float, float]] = []
    while any(thread.is_alive() for thread in threads):
        rss_mb.append((time.monotonic() - started, server.memory_info().rss / MB))
        time.sleep(0.25)
    elapsed_s = time.monotonic() - started
    for thread in threads:
        thread.join()
    statuses = sum(n for k, n in answers.items() if isinstance(k, int))
    latencies_s.sort()
    first = [mb for at, mb in rss_mb if at < LOAD_S / 4]
    last = [mb for at, mb in rss_mb if at >= LOAD_S * 3 / 4]
    p50_ms = latencies_s[len(latencies_s) // 2] * 1e3
    p99_ms = latencies_s[int(len(latencies_s) * 0.99)] * 1e3
    print(
        f"\n{CLIENTS} clients, {elapsed_s:.1f} s: {statuses} requests "
        f"({statuses / elapsed_s:.0f}/s), {answers['videos']} videos; latency p50 {p50_ms:.0f} ms,"
        f" p99 {p99_ms:.0f} ms; simulator RSS first quarter {min(first):.0f}-{max(first):.0f} MB,"
        f" last quarter {min(last):.0f}-{max(last):.0f} MB; answers {dict(answers)}"
    )
    assert set(answers) <= {200, "videos"}, answers  # no 4xx/5xx, no transport error
    assert answers["videos"] >= CLIENTS  # every client completed jobs end to end
    assert max(last) - min(first) < 30  # steady: no growth while it serves
