"""The runtime: one engine thread, the jobs on it, the runs store, and the runner that drives
each run from upload to saved video.

- ``engine``   the background thread that owns foxnb's asyncio loop
- ``jobs``     ``Job``, the handle users hold, with its engine-side API
- ``store``    the runs store every writer shares (SQLite or PostgreSQL): runs, owners,
               leases, the one gate to money, experiments' budgets and stops
- ``link``     the writer thread between the engine loop and the store (``StoreLink``):
               writes batched, retried while the store refuses them, leases renewed
- ``records``  reading recorded runs back (any foxnb's)
- ``uploads``  one upload per input content
- ``sending``  how a process's cells wait their turn to ask the store to send
- ``runner``   one run on the engine loop: upload → create → poll → download, each step recorded
- ``watch``    read-only jobs of runs another owner works on
- ``recovery`` resume, attach, and taking over runs whose owner is gone
- ``worker``   ``foxnb worker``: claim runs from a shared store until none is left
- ``fetch``    a local copy of a result saved on another machine
- ``tracker``  a session's runs: start, re-attach, resume after a crash, watch
"""
