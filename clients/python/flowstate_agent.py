"""
flowstate_agent - external Flowstate agents in Python (standard library only).

An agent is a process that registers itself with a Flowstate server
(`flowstate serve`), leases the jobs addressed to its type, runs a handler
on each and reports the result.  Copy this one file next to your code; it
needs Python 3.8 or later and nothing outside the standard library.

    from flowstate_agent import AgentBase, FatalJobError

    class Enricher(AgentBase):
        agent_type = "enricher"          # jobs whose target_agent is this
        job_types = ["enrich_lead"]      # ... and whose type is one of these
        concurrency = 4                  # worker threads

        def handle(self, job):           # job.id, .type, .payload, .attempt
            lead = job.payload
            if "email" not in lead:
                raise FatalJobError("no e-mail")   # failed, never retried
            self.memory_add(f"lead {lead['email']}", kind="note")
            return {"email": lead["email"].lower()}  # the job's result

    if __name__ == "__main__":
        raise SystemExit(Enricher(url="http://127.0.0.1:8080").run())

Credentials, first found wins: agent_id= and token= (an agent registered
before; env FLOWSTATE_AGENT_ID and FLOWSTATE_AGENT_TOKEN), or an admin key
(key=, key_file=, env FLOWSTATE_API_KEY, env FLOWSTATE_KEY_FILE,
./flowstate.key) with which run() registers a new agent and then works
with that agent's own token only.  The URL: url=, env FLOWSTATE_URL, or
http://127.0.0.1:8080.

How it runs.  run() = start(), wait for SIGTERM or SIGINT, stop(),
return 0.  start() registers and starts three kinds of daemon thread:

    dispatcher  _dispatch_loop: leases as many jobs as workers are free
                (long-polling wait_ms), queues them for the workers
    workers     _worker_loop x concurrency: _run_job -> handle(job)
    keeper      _keeper_loop: agent heartbeat every heartbeat_interval s,
                each running job's lease extended at a third of its
                length, per-job deadlines

A leased job's life inside the agent (Job._state, and what moves it):

    queued --_run_job--> running --handle() returned--> done
      |                    |        (_complete: the return value, or
      |                    |         _fail: the exception text)
      |                    +--deadline passed: _time_out--> timed_out
      |                    |   (failed "timed out after N s"; the worker
      |                    |    thread is abandoned and replaced)
      |                    +--still running `grace` s into stop()--> handed_back
      +--stop() before it started: _hand_back (failed, retry)

stop(): stops leasing, raises job.cancelled on running jobs, waits up to
`grace` s for them, fails those still running with retry ("worker shutting
down": they go back to the queue now, not when their leases expire) and
joins the threads that are not stuck.

* A handler may raise anything: the job fails with the exception's text
  and is retried (with the server's backoff, while attempts remain);
  FatalJobError fails it for good.  The worker thread always lives on.
* job.cancelled turns true when the job's lease is lost (it was cancelled
  or its lease expired), when it timed out, or when the agent is stopping;
  long handlers should poll it (or sleep with job.wait_cancelled(s)) and
  give up.  job.progress(done, note) logs and extends the lease at once.
* A per-job timeout (`timeout` seconds; default: the job's lease, which is
  its timeout_ms unless `lease_seconds` is set): a handler still running
  past it has its job failed "timed out after N s" (retried like any
  failure, unless retry_timeouts is False) and its worker is replaced by a
  new thread, so work goes on.  Python cannot kill a thread: the stuck one
  is abandoned, its eventual return value dropped.  At most `max_abandoned`
  (default: concurrency) stuck threads get a replacement; past that the
  agent runs with fewer workers until a stuck thread returns and takes its
  place again, so threads never pile up.  Stuck threads are daemons and do
  not delay the process's exit.
* Requests are retried (backoff with jitter, `Retry-After` honoured) on
  connection errors, 429 and 503.  A request that failed in flight may have
  reached the server: give create_job() a unique_key when a duplicate
  matters.  Other errors raise FlowstateError(status, code, message).
* Helpers usable inside handle(): memory_add, memory_search, create_job
  (the current job becomes the parent), get_state and put_state.

Threads: handle() runs on `concurrency` worker threads at once, so an
agent's own attributes need a lock if handlers change them.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import queue
import random
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["AgentBase", "Client", "FatalJobError", "FlowstateError", "Job"]

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_KEY_FILE = "./flowstate.key"
MAX_ERROR_TEXT = 4000  # the server keeps up to 8192 bytes of a job's error
MAX_WAIT_MS = 60000    # the server's long-poll limit

log = logging.getLogger("flowstate.agent")

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class FlowstateError(Exception):
    """An error answer: status (0 when the server could not be reached),
    code and message from {"error":{"code","message"}}, and details (the
    whole error object, e.g. current_version on a version_conflict)."""

    def __init__(self, status, code, message, details=None, retry_after=None):
        super().__init__(f"{status} {code}: {message}" if status
                         else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after

    @property
    def transient(self):
        """True when trying again later may succeed (unreachable, 429, 503)."""
        return self.status in (0, 429, 503)


class FatalJobError(Exception):
    """Raise from handle() when retrying cannot help (bad input): the job
    fails with this message and is not retried."""


def _read_key_file(path):
    with open(path, encoding="utf-8") as f:
        key = f.read(4097).strip()
    if not key or len(key) > 4096 or any(c <= " " for c in key):
        raise ValueError(f"key file {path} does not hold a key")
    return key


class Client:
    """A small Flowstate HTTP/JSON client, safe to share between threads.

    url: the server (default env FLOWSTATE_URL, then http://127.0.0.1:8080).
    key: an admin key or an agent token (sent as a Bearer token).
    timeout: seconds per request (a long-poll lease adds its wait).
    retries, backoff, max_backoff: see request().
    """

    def __init__(self, url=None, key=None, *, timeout=30.0, retries=4,
                 backoff=0.25, max_backoff=8.0):
        url = url or os.environ.get("FLOWSTATE_URL") or DEFAULT_URL
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"bad server URL {url!r}: it must start with "
                             "http:// or https://")
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        host = urllib.parse.urlsplit(self.url).hostname
        # Environment proxies never apply to loopback servers.
        no_proxy = [urllib.request.ProxyHandler({})]
        self._opener = urllib.request.build_opener(
            *(no_proxy if host in _LOOPBACK else []))

    def with_key(self, key):
        """The same server and settings, another key."""
        return Client(self.url, key, timeout=self.timeout,
                      retries=self.retries, backoff=self.backoff,
                      max_backoff=self.max_backoff)

    def request(self, method, path, body=None, *, timeout=None, retries=None):
        """Sends one request and returns the decoded JSON answer ({} when
        empty).  Transient failures (connection errors, 429, 503) are tried
        again up to `retries` times, waiting Retry-After when the server
        gives one, else backoff seconds doubling up to max_backoff, with
        jitter.  Raises FlowstateError."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        tries = self.retries if retries is None else retries
        delay = self.backoff
        for attempt in range(tries + 1):
            try:
                return self._once(method, path, data, timeout or self.timeout)
            except FlowstateError as e:
                if attempt >= tries or not e.transient:
                    raise
                wait = e.retry_after if e.retry_after is not None else delay
                wait = min(wait, self.max_backoff) * random.uniform(0.8, 1.2)
                log.debug("%s %s: %s; retrying in %.2f s", method, path, e,
                          wait)
                time.sleep(wait)
                delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    def _once(self, method, path, data, timeout):
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.key:
            req.add_header("Authorization", "Bearer " + self.key)
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise _http_error(e.code, e.read(), e.headers) from None
        except urllib.error.URLError as e:
            raise FlowstateError(0, "unreachable",
                                 f"{method} {path}: {e.reason}") from None
        except (OSError, http.client.HTTPException) as e:
            raise FlowstateError(0, "unreachable",
                                 f"{method} {path}: {e!r}") from None
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise FlowstateError(200, "bad_response", f"{method} {path}: "
                                 "the answer is not JSON") from None

    # --- the API, one method per route ------------------------------------

    def register_agent(self, name, type, job_types=(), metadata=None):
        """POST /v1/agents (admin key): the agent with its one-time token."""
        return self.request("POST", "/v1/agents", {
            "name": name, "type": type, "job_types": list(job_types),
            "metadata": metadata or {}})

    def agent_heartbeat(self, agent_id, retries=None):
        return self.request("POST", f"/v1/agents/{_q(agent_id)}/heartbeat", {},
                            retries=retries)

    def enqueue(self, type, target_agent, payload=None, **fields):
        """POST /v1/jobs: one job (fields: priority, run_at, max_attempts,
        unique_key, timeout_ms, parent_id); returns the stored job."""
        body = {"type": type, "target_agent": target_agent,
                "payload": payload if payload is not None else {}}
        body.update({k: v for k, v in fields.items() if v is not None})
        return self.request("POST", "/v1/jobs", body)

    def get_job(self, job_id):
        """GET /v1/jobs/{id} (admin key)."""
        return self.request("GET", f"/v1/jobs/{int(job_id)}")

    def lease(self, max_jobs=1, wait_ms=0, lease_seconds=None):
        """POST /v1/jobs/lease as the token's agent: up to max_jobs jobs,
        waiting up to wait_ms (at most 60000) for one to arrive."""
        wait_ms = int(min(MAX_WAIT_MS, max(0, wait_ms)))
        body = {"max": int(max_jobs), "wait_ms": wait_ms}
        if lease_seconds:
            body["lease_seconds"] = int(math.ceil(lease_seconds))
        r = self.request("POST", "/v1/jobs/lease", body,
                         timeout=self.timeout + wait_ms / 1000.0)
        return r.get("jobs", [])

    def job_heartbeat(self, job_id, lease_token, lease_seconds=None,
                      retries=None):
        body = {"lease_token": lease_token}
        if lease_seconds:
            body["lease_seconds"] = int(math.ceil(lease_seconds))
        return self.request("POST", f"/v1/jobs/{int(job_id)}/heartbeat", body,
                            retries=retries)

    def complete(self, job_id, lease_token, result):
        return self.request("POST", f"/v1/jobs/{int(job_id)}/complete",
                            {"lease_token": lease_token, "result": result})

    def fail(self, job_id, lease_token, error, retry=True):
        return self.request("POST", f"/v1/jobs/{int(job_id)}/fail",
                            {"lease_token": lease_token, "error": error,
                             "retry": bool(retry)})

    def memory_add(self, content, kind=None, metadata=None, tags=None,
                   importance=None):
        """POST /v1/memory: returns the new document's id."""
        body = {"content": content}
        for k, v in (("kind", kind), ("metadata", metadata), ("tags", tags),
                     ("importance", importance)):
            if v is not None:
                body[k] = list(v) if k == "tags" else v
        return self.request("POST", "/v1/memory", body)["id"]

    def memory_search(self, query, limit=10, filter=None, **options):
        """POST /v1/search/semantic: [{"id","score","content",...}]."""
        body = {"query": query, "limit": int(limit)}
        if filter:
            body["filter"] = filter
        body.update(options)
        return self.request("POST", "/v1/search/semantic", body)["results"]

    def get_state(self, agent_id):
        """GET /v1/agents/{id}/state: (state, version); ({}, 0) when none."""
        try:
            r = self.request("GET", f"/v1/agents/{_q(agent_id)}/state")
        except FlowstateError as e:
            if e.status == 404:
                return {}, 0
            raise
        return r.get("state") or {}, r.get("version", 0)

    def put_state(self, agent_id, state, expected_version=None):
        """PUT /v1/agents/{id}/state: the new version.  A stale
        expected_version raises FlowstateError 409 version_conflict (its
        details hold current_version)."""
        body = {"state": state}
        if expected_version is not None:
            body["expected_version"] = int(expected_version)
        r = self.request("PUT", f"/v1/agents/{_q(agent_id)}/state", body)
        return r["version"]


def _q(s):
    return urllib.parse.quote(str(s), safe="")


def _http_error(status, raw, headers):
    code, message, details = f"http_{status}", "", {}
    try:
        details = json.loads(raw)["error"]
        code = details.get("code", code)
        message = details.get("message", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        message = raw[:200].decode("utf-8", "replace").strip()
    retry_after = None
    ra = headers.get("Retry-After") if headers else None
    if ra and ra.strip().isdigit():
        retry_after = float(ra.strip())
    return FlowstateError(status, code, message, details, retry_after)


class Job:
    """One leased job as handle() sees it: id, type, payload (a dict),
    attempt (1 on the first try), max_attempts, target_agent, parent_id,
    timeout_ms, raw (the server's whole record); cancelled, cancel_reason,
    wait_cancelled() and progress() for long handlers."""

    def __init__(self, agent, raw):
        self.raw = raw
        self.id = raw["id"]
        self.type = raw.get("type")
        self.payload = raw.get("payload")
        if self.payload is None:
            self.payload = {}
        self.attempt = raw.get("attempt") or raw.get("attempts") or 1
        self.max_attempts = raw.get("max_attempts")
        self.target_agent = raw.get("target_agent")
        self.parent_id = raw.get("parent_id")
        self.timeout_ms = raw.get("timeout_ms") or 30000
        self.lease_token = raw.get("lease_token")
        self.cancel_reason = None
        self._agent = agent
        self._cancel = threading.Event()
        # The runtime's bookkeeping (under the agent's lock).
        self._state = "queued"  # running -> done | timed_out | handed_back
        self._worker = None
        self._deadline = None
        self._next_hb = 0.0
        self._timeout = None

    def __repr__(self):
        return f"<Job {self.id} {self.type} attempt {self.attempt}>"

    @property
    def cancelled(self):
        """True once the lease is lost, the job timed out or the agent is
        stopping: finish soon (raise to hand the job back)."""
        return self._cancel.is_set()

    def wait_cancelled(self, seconds):
        """Sleeps up to `seconds`, waking early when the job is cancelled;
        returns job.cancelled."""
        return self._cancel.wait(seconds)

    def progress(self, done=None, note=None):
        """Logs progress (done in [0, 1], a note) and extends the lease now.
        Returns False when the lease is lost (the job is then cancelled)."""
        if done is not None or note:
            log.info("job %s: progress %s%s", self.id,
                     "" if done is None else f"{100 * done:.0f}%",
                     f" {note}" if note else "")
        return self._agent._extend(self)

    def _cancel_with(self, reason):
        if not self._cancel.is_set():
            self.cancel_reason = reason
            self._cancel.set()


class _Worker:
    """A worker thread's record; abandoned once its handler timed out."""

    def __init__(self):
        self.abandoned = False
        self.thread = None


_current = threading.local()  # .job: the job the calling thread handles

_OPTIONS = ("name", "concurrency", "timeout", "lease_seconds",
            "heartbeat_interval", "grace", "wait_ms", "max_abandoned",
            "retry_timeouts", "metadata", "request_timeout")


class AgentBase:
    """Subclass it: set agent_type and job_types, write handle(job).

    Every class attribute below may also be passed to the constructor:
    AgentBase(url, key=..., key_file=..., agent_id=..., token=...,
    concurrency=8, timeout=60, ...).
    """

    agent_type = None          # required: the agent type jobs target
    job_types = ()             # job types taken (empty: any for this type)
    name = None                # default "<type>-<host>-<pid>"
    metadata = None            # stored with the registration
    concurrency = 1            # worker threads
    timeout = None             # seconds per job; None: the job's lease
    lease_seconds = None       # lease length asked for; None: job timeout_ms
    heartbeat_interval = 5.0   # agent heartbeat, seconds
    grace = 10.0               # seconds running jobs get on stop
    wait_ms = 1000             # long-poll per lease call (a stop waits this)
    max_abandoned = None       # stuck threads replaced (default concurrency)
    retry_timeouts = True      # a timed-out job is retried (attempts allowing)
    request_timeout = 30.0     # seconds per HTTP request

    def __init__(self, url=None, *, key=None, key_file=None, agent_id=None,
                 token=None, **options):
        for k, v in options.items():
            if k not in _OPTIONS:
                raise TypeError(f"unknown option {k!r}")
            setattr(self, k, v)
        if not self.agent_type:
            raise TypeError(f"{type(self).__name__} must set agent_type")
        if int(self.concurrency) < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = int(self.concurrency)
        if self.max_abandoned is None:
            self.max_abandoned = self.concurrency
        self.url = url
        self._key, self._key_file = key, key_file
        self.agent_id, self._token = agent_id, token
        self.client = None
        self._lock = threading.Lock()
        self._running = {}           # job id -> Job being handled
        self._abandoned = set()      # _Worker records of stuck handlers
        self._workers = []           # live regular _Worker records
        self._owed = 0               # slots waiting for a stuck thread
        self._inbox = queue.Queue()  # leased jobs not yet picked up
        self._free = threading.Semaphore(self.concurrency)
        self._stop_requested = threading.Event()
        self._stopping = threading.Event()
        self._force = threading.Event()
        self._keeper_stop = threading.Event()
        self._started = self._stopped = False
        self._signals = 0            # SIGTERM/SIGINT received (run() only)
        self._keeper = self._dispatcher = None
        self.counters = {"leased": 0, "completed": 0, "failed": 0,
                         "timed_out": 0, "lost": 0}

    # --- what subclasses write --------------------------------------------

    def handle(self, job):
        """Does one job and returns its result (anything JSON can hold).
        Raise to fail it (FatalJobError: without retry)."""
        raise NotImplementedError

    def setup(self):
        """Called once registered, before any job is leased."""

    def teardown(self):
        """Called after a stop, once the workers are done."""

    # --- helpers for handle() ---------------------------------------------

    def memory_add(self, content, kind=None, metadata=None, tags=None,
                   importance=None):
        """Stores a document in the shared memory, owned by this agent;
        returns its id."""
        return self.client.memory_add(content, kind, metadata, tags,
                                      importance)

    def memory_search(self, query, limit=10, filter=None, **options):
        """Semantic search over the shared memory: a list of hits
        {"id","score","content","metadata",...}, best first."""
        return self.client.memory_search(query, limit, filter, **options)

    def create_job(self, type, target_agent, payload=None, parent_id=None,
                   **fields):
        """Enqueues a job for another agent (target_agent: a type or an
        agent id).  parent_id defaults to the job being handled.  Returns
        the stored job (its "id")."""
        if parent_id is None:
            cur = getattr(_current, "job", None)
            parent_id = cur.id if cur is not None else None
        return self.client.enqueue(type, target_agent, payload,
                                   parent_id=parent_id, **fields)

    def get_state(self):
        """This agent's versioned state: (state, version), ({}, 0) when none."""
        return self.client.get_state(self.agent_id)

    def put_state(self, state, expected_version=None):
        """Writes the state; returns the new version.  expected_version (the
        version read; None: unconditional) makes a concurrent write raise
        FlowstateError 409 version_conflict instead of being overwritten."""
        return self.client.put_state(self.agent_id, state, expected_version)

    # --- running ----------------------------------------------------------

    def run(self):
        """Registers, works until SIGTERM or SIGINT (a second one ends the
        grace period at once), stops gracefully and returns 0."""
        self.start()
        restore = self._install_signals()
        try:
            while not self._signals and not self._stop_requested.is_set():
                time.sleep(0.05)
        finally:
            self.stop()
            restore()
        return 0

    def request_stop(self):
        """Asks run() to stop, from any thread (not from a signal handler:
        run() handles SIGTERM and SIGINT itself); a second call while
        stopping ends the grace period."""
        if self._stop_requested.is_set():
            self._force.set()
        self._stop_requested.set()

    def start(self):
        """Registers (or adopts agent_id/token) and starts the threads."""
        if self._started:
            raise RuntimeError("already started")
        self._connect()
        self.setup()
        self._safe(lambda: self.client.agent_heartbeat(self.agent_id),
                   "agent heartbeat")
        self._keeper = self._spawn(self._keeper_loop, "flowstate-keeper")
        self._dispatcher = self._spawn(self._dispatch_loop, "flowstate-lease")
        for _ in range(self.concurrency):
            self._start_worker()
        self._started = True
        log.info("agent %s (%s) started: %d worker(s) on %s", self.agent_id,
                 self.agent_type, self.concurrency, self.client.url)

    def stop(self, grace=None):
        """Stops leasing, raises every running job's cancelled flag, waits
        up to `grace` seconds for handlers, fails the jobs still running
        with retry ("worker shutting down"), and returns.  Idempotent."""
        with self._lock:
            if not self._started or self._stopped:
                return
            self._stopped = True
        if self._signals:
            log.info("signal received: stopping")
        self._stop_requested.set()
        self._stopping.set()
        grace = self.grace if grace is None else grace
        self._dispatcher.join(self.wait_ms / 1000.0 + self.request_timeout + 1)
        self._drain_inbox()
        with self._lock:
            running = list(self._running.values())
        for job in running:
            job._cancel_with("stopping")
        until = time.monotonic() + grace
        while (time.monotonic() < until and not self._force.is_set()
               and self._signals < 2):
            with self._lock:
                if not self._running:
                    break
            time.sleep(0.02)
        with self._lock:
            left = list(self._running.values())
            for job in left:
                job._state = "handed_back"
                del self._running[job.id]
        for job in left:
            log.warning("job %s handed back unfinished", job.id)
            self._fail(job, "worker shutting down", True)
        self._drain_inbox()
        self._keeper_stop.set()
        self._keeper.join(self.request_timeout + 1)
        stuck = {job._worker for job in left}
        with self._lock:  # neither abandoned nor handed-back threads: they hang
            workers = [w for w in self._workers if w not in stuck]
        for w in workers:
            w.thread.join(1.0)
        self.teardown()
        log.info("agent %s stopped", self.agent_id)

    # --- internals: credentials -------------------------------------------

    def _connect(self):
        base = Client(self.url, timeout=self.request_timeout)
        agent_id = self.agent_id or os.environ.get("FLOWSTATE_AGENT_ID")
        token = self._token or os.environ.get("FLOWSTATE_AGENT_TOKEN")
        if agent_id and token and not (self._key or self._key_file):
            self.agent_id = agent_id
            self.client = base.with_key(token)
            return
        admin = base.with_key(self._admin_key())
        name = self.name or (f"{self.agent_type}-{socket.gethostname()}-"
                             f"{os.getpid()}")
        a = admin.register_agent(name, self.agent_type, self.job_types,
                                 self.metadata)
        self.agent_id = a["id"]
        self.client = base.with_key(a["token"])

    def _admin_key(self):
        if self._key:
            return self._key
        if self._key_file:
            return _read_key_file(self._key_file)
        env = os.environ.get("FLOWSTATE_API_KEY")
        if env:
            return env
        path = os.environ.get("FLOWSTATE_KEY_FILE") or DEFAULT_KEY_FILE
        try:
            return _read_key_file(path)
        except OSError as e:
            raise FlowstateError(0, "no_credentials",
                                 f"no API key: cannot read {path} "
                                 f"({e.strerror}); pass key or key_file, "
                                 "set FLOWSTATE_API_KEY, "
                                 "or FLOWSTATE_AGENT_ID and "
                                 "FLOWSTATE_AGENT_TOKEN") from None

    def _install_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        old = {}

        def on_signal(signum, frame):
            # Only count: taking a lock here could deadlock the main thread.
            self._signals += 1

        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, on_signal)

        def restore():
            for sig, h in old.items():
                signal.signal(sig, h)
        return restore

    # --- internals: threads -----------------------------------------------

    def _spawn(self, fn, name, *args):
        t = threading.Thread(target=fn, args=args, name=name, daemon=True)
        t.start()
        return t

    def _start_worker(self):
        w = _Worker()
        with self._lock:
            self._workers.append(w)
            w.thread = threading.Thread(target=self._worker_loop, args=(w,),
                                        name="flowstate-worker", daemon=True)
        w.thread.start()

    def _dispatch_loop(self):
        """Leases as many jobs as there are free workers, long-polling."""
        delay = 0.5
        while not self._stopping.is_set():
            if not self._free.acquire(timeout=0.25):
                continue
            n = 1
            while n < self.concurrency and self._free.acquire(blocking=False):
                n += 1
            try:
                jobs = self.client.lease(n, self.wait_ms, self.lease_seconds)
                delay = 0.5
            except Exception as e:  # noqa: BLE001 - the loop must live on
                for _ in range(n):
                    self._free.release()
                log.warning("lease failed: %s; again in %.1f s", e, delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, 30.0)
                continue
            for _ in range(n - len(jobs)):
                self._free.release()
            for raw in jobs:
                with self._lock:
                    self.counters["leased"] += 1
                self._inbox.put(Job(self, raw))

    def _worker_loop(self, w):
        while True:
            if self._stopping.is_set():
                return
            try:
                job = self._inbox.get(timeout=0.25)
            except queue.Empty:
                continue
            if self._stopping.is_set():
                self._hand_back(job)
                return
            self._run_job(w, job)
            with self._lock:
                if not w.abandoned:
                    self._free.release()
                    continue
                # This thread was given up on; it may take a free slot back.
                self._abandoned.discard(w)
                if self._owed == 0 or self._stopping.is_set():
                    return
                self._owed -= 1
                w.abandoned = False
                self._workers.append(w)
                self._free.release()
            log.info("a stuck handler returned; its thread works again")

    def _run_job(self, w, job):
        timeout = self.timeout or self._lease_s(job)
        now = time.monotonic()
        with self._lock:
            job._worker = w
            job._state = "running"
            job._timeout = timeout
            job._deadline = now + timeout if timeout else None
            job._next_hb = now + self._lease_s(job) / 3.0
            self._running[job.id] = job
        _current.job = job
        error, retry = None, True
        try:
            result = self.handle(job)
        except FatalJobError as e:
            error, retry = str(e) or "FatalJobError", False
            log.warning("job %s failed for good: %s", job.id, error)
        except BaseException as e:  # noqa: BLE001 - a handler never kills us
            error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            log.warning("job %s: handler raised %s", job.id, error,
                        exc_info=log.isEnabledFor(logging.DEBUG))
        finally:
            _current.job = None
        with self._lock:
            mine = job._state == "running"
            if mine:
                job._state = "done"
                del self._running[job.id]
        if not mine:
            log.info("job %s: the handler returned after the job was %s; "
                     "its outcome is dropped", job.id, job._state)
        elif error is None:
            self._complete(job, result)
        else:
            self._fail(job, error, retry)

    def _keeper_loop(self):
        """Agent heartbeats, lease extensions and job deadlines."""
        next_agent_hb = time.monotonic() + self.heartbeat_interval
        while not self._keeper_stop.wait(0.1):
            now = time.monotonic()
            if now >= next_agent_hb:
                next_agent_hb = now + self.heartbeat_interval
                self._safe(lambda: self.client.agent_heartbeat(self.agent_id,
                                                               retries=0),
                           "agent heartbeat")
            with self._lock:
                running = list(self._running.values())
            for job in running:
                if job._deadline is not None and now >= job._deadline:
                    self._time_out(job)
                elif now >= job._next_hb:
                    self._extend(job)

    # --- internals: one job's end -----------------------------------------

    def _lease_s(self, job):
        return float(self.lease_seconds or job.timeout_ms / 1000.0)

    def _extend(self, job):
        """Heartbeats job's lease; a lost lease cancels the job."""
        if job._cancel.is_set() and job.cancel_reason != "stopping":
            return False
        try:
            self.client.job_heartbeat(job.id, job.lease_token,
                                      self.lease_seconds, retries=0)
            job._next_hb = time.monotonic() + self._lease_s(job) / 3.0
            return True
        except FlowstateError as e:
            if e.status in (403, 404, 409):
                log.warning("job %s: lease lost (%s); cancelling the handler",
                            job.id, e.code)
                with self._lock:
                    self.counters["lost"] += 1
                job._cancel_with("lease lost")
                job._next_hb = math.inf
                return False
            log.warning("job %s: lease heartbeat failed: %s", job.id, e)
            job._next_hb = time.monotonic() + 1.0
            return True

    def _time_out(self, job):
        """Fails a job whose handler ran past its timeout and replaces the
        stuck worker thread (or owes the slot when max_abandoned is reached)."""
        with self._lock:
            if job._state != "running":
                return
            job._state = "timed_out"
            del self._running[job.id]
            w = job._worker
            w.abandoned = True
            if w in self._workers:
                self._workers.remove(w)
            self._abandoned.add(w)
            replace = len(self._abandoned) <= self.max_abandoned
            if not replace:
                self._owed += 1
            self.counters["timed_out"] += 1
        job._cancel_with("timed out")
        log.warning("job %s timed out after %g s; its thread is abandoned",
                    job.id, job._timeout)
        self._fail(job, f"timed out after {job._timeout:g} s",
                   self.retry_timeouts)
        if replace:
            self._start_worker()
            self._free.release()
        else:
            log.error("%d handler threads are stuck (max_abandoned %d): "
                      "running with fewer workers until one returns",
                      len(self._abandoned), self.max_abandoned)

    def _complete(self, job, result):
        try:
            json.dumps(result)
        except (TypeError, ValueError) as e:
            self._fail(job, f"the result is not JSON: {e}", False)
            return
        if self._report(job, lambda: self.client.complete(
                job.id, job.lease_token, result)):
            with self._lock:
                self.counters["completed"] += 1

    def _fail(self, job, error, retry):
        if len(error) > MAX_ERROR_TEXT:
            error = error[:MAX_ERROR_TEXT] + "..."
        if self._report(job, lambda: self.client.fail(
                job.id, job.lease_token, error, retry)):
            with self._lock:
                self.counters["failed"] += 1

    def _hand_back(self, job):
        self._fail(job, "worker shutting down", True)

    def _drain_inbox(self):
        while True:
            try:
                job = self._inbox.get_nowait()
            except queue.Empty:
                return
            self._hand_back(job)

    def _report(self, job, call):
        try:
            call()
            return True
        except FlowstateError as e:
            if e.status in (403, 404, 409):
                log.warning("job %s: lease lost before its outcome was "
                            "reported (%s)", job.id, e.code)
                with self._lock:
                    self.counters["lost"] += 1
            else:
                log.error("job %s: cannot report its outcome: %s (the lease "
                          "will expire and the job run again)", job.id, e)
            return False

    def _safe(self, call, what):
        try:
            call()
        except FlowstateError as e:
            log.warning("%s failed: %s", what, e)
