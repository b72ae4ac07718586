"""The sans-I/O core shared by the sync and async clients.

Nothing here opens a socket or sleeps. A *flow* is a generator that yields steps —
``Send(request)``, ``Fetch(url)``, ``Sleep(seconds)``, ``Observe(task)`` — and receives what
happened to each (a ``Response``, a ``Failure``, a ``Saved`` file). ``client.Client`` drives
flows with blocking httpx calls, ``client.AsyncClient`` with ``await``: request building,
response parsing, retry decisions, backoff, rate limiting and the polling schedule exist
once, here.

- ``steps``      the step and outcome types, and the three requests FoxAPI takes
- ``responses``  what an answer means (FoxAPI JSON errors, edge-proxy HTML) as foxnb errors
- ``retry``      retry policy, backoff, the shared ``Throttle``, and ``call()`` with the money
                 rule: a create request is resent only when provably not received
- ``polling``    predicting a task's end from its progress; the polling flow; which tasks
                 a wait ends on (``Finishers``), read on a precise schedule
- ``fetching``   public files: redirects followed safely, results downloaded until they are one
- ``core``       ``Core``: every call of one connection as a flow
"""

from .core import Core
from .fetching import MAX_REDIRECTS, RedirectRefused, redirect_target
from .polling import (
    LAST_PROGRESS,
    PRECISE_MAX_READS,
    Finishers,
    estimate_total_s,
    next_poll_delay_s,
    poll,
    precise_delay_s,
    unknown_status_delay_s,
)
from .responses import (
    created_nothing,
    error_envelope,
    error_from_response,
    error_in_body,
    page_title,
    parse_json_object,
    parse_retry_after,
)
from .retry import RetryPolicy, Throttle, backoff_s, call
from .steps import (
    USER_AGENT,
    Failure,
    Fetch,
    Flow,
    Observe,
    Outcome,
    Peek,
    Rejected,
    Request,
    Response,
    Saved,
    Send,
    Sleep,
    Step,
    Upload,
    create_request,
    task_request,
    upload_request,
)

__all__ = [
    "LAST_PROGRESS",
    "MAX_REDIRECTS",
    "PRECISE_MAX_READS",
    "USER_AGENT",
    "Core",
    "Failure",
    "Fetch",
    "Finishers",
    "Flow",
    "Observe",
    "Outcome",
    "Peek",
    "RedirectRefused",
    "Rejected",
    "Request",
    "Response",
    "RetryPolicy",
    "Saved",
    "Send",
    "Sleep",
    "Step",
    "Throttle",
    "Upload",
    "backoff_s",
    "call",
    "create_request",
    "created_nothing",
    "error_envelope",
    "error_from_response",
    "error_in_body",
    "estimate_total_s",
    "next_poll_delay_s",
    "page_title",
    "parse_json_object",
    "parse_retry_after",
    "poll",
    "precise_delay_s",
    "redirect_target",
    "task_request",
    "unknown_status_delay_s",
    "upload_request",
]
