"""Production web server settings: `gunicorn hub.wsgi` reads this file from the repo root;
any value can be overridden on the command line (`--workers 8`, `--bind ...`).

Threads keep a worker serving while one request waits on its commit's disk sync; two
processes per core is the usual start.
"""

import multiprocessing

bind = "0.0.0.0:8000"
workers = multiprocessing.cpu_count() * 2
threads = 8
worker_class = "gthread"
timeout = 60
graceful_timeout = 30
keepalive = 5
max_requests = 20000
max_requests_jitter = 2000
accesslog = "-"
