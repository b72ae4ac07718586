"""The runtime: one engine thread, the jobs on it, the ledger, and the runner that drives each
run from upload to saved video.

- ``engine``   the background thread that owns foxnb's asyncio loop
- ``jobs``     ``Job``, the handle users hold, with its engine-side API
- ``ledger``   the run ledger (``runs.jsonl``) and its DataFrame
- ``store``    the runs store every writer shares (SQLite or PostgreSQL): owners, leases, the
               one gate to money; replaces ``ledger`` (issue 11)
- ``uploads``  one upload per input content
- ``gate``     a sweep's budget / 402 / 401 / stop guard on sending
- ``runner``   one run on the engine loop: upload → create → poll → download, each step recorded
- ``tracker``  a session's runs: start, re-attach, resume after a crash
"""
