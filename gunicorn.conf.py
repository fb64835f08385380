"""Production web server settings: `gunicorn hub.wsgi` reads this file from the repo root;
any value can be overridden on the command line (`--workers 8`, `--bind ...`).

The worker model, chosen by measurement (bench/serving/run.py and bench/serving/README.md,
2 cores, c=8 single-row predict requests against PostgreSQL and Redis on the same machine):

- gthread, one process per core, 4 threads each. Predict queues its rows for the
  process's group commit (inference/group_commit.py): the requests in flight in one
  process are predicted in one call per model version and committed in one INSERT, by
  the request that finds no batch in progress (no writer thread, no hand-off). That needs
  several requests in flight per process (threads), and the Python work needs a process
  per core (one GIL each).
- Measured at c=8 with group commit on: 2x4 served 360-560 req/s, 2x8 470, 4x4 440
  and 1x8 360 (the single process is GIL-bound, with 2-5x worse p99); without group
  commit 2x4 served 410. (Measured with a writer thread; the leader-led batches that
  replaced it cost the same CPU per request within the noise of a shared machine.) More threads than requests in flight only add GIL contention.
- The sync worker (one request at a time per process) cannot batch anything; an async
  worker would need the DRF view and the ORM to run in threads anyway.
- Re-measured with the per-request CPU of the workers (bench/serving/run.py now reports
  it, steadier than req/s on a shared machine): 2x2 3.6 ms, 2x4 3.2, 2x8 3.2, 3x3 3.8 ms
  per request. 2x4 stays. Another server was tried too: granian (Rust HTTP, WSGI in
  blocking threads) served a do-nothing DRF view at 620 req/s against gunicorn's 940 here.
- preload_app and no access log (below), and gunicorn's C HTTP parser (gunicorn_h1c, in
  requirements.txt; gunicorn uses it when installed) cut what a request costs gunicorn.
"""

import multiprocessing

bind = "0.0.0.0:8000"
workers = multiprocessing.cpu_count()
threads = 4
worker_class = "gthread"
timeout = 60
graceful_timeout = 30
keepalive = 5
# The app is imported once, in the master, before the workers fork: a worker starts (and
# restarts after max_requests) in milliseconds instead of the ~5 s an import of the hub
# takes, and serves from its first second. Nothing opens a database, cache or broker
# connection at import, so no socket is shared across the fork.
preload_app = True
max_requests = 20000
max_requests_jitter = 2000
# No access log by default: every prediction is already a row in its group's table, and
# formatting a line per request cost ~5% of a worker's time on predict (bench/serving).
# `--access-logfile -` turns it on.
accesslog = None
