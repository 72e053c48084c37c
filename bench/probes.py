"""Counting what an event costs: PostgreSQL round trips (libpq trace) and Redis commands (MONITOR).

- `PgTrace(connection)`: every message Django's PostgreSQL connection sends and receives, through
  libpq's own trace. Round trips = the server's ReadyForQuery messages: one per simple query (BEGIN,
  COMMIT, Django's own SQL) or per extended-protocol Sync, including what CaptureQueriesContext does
  not see (BEGIN, COMMIT, the CONN_HEALTH_CHECKS `SELECT 1`).
- `RedisMonitor(redis, own_clients)`: Redis's MONITOR stream in a thread: every command with the
  client that sent it, and commands run inside Lua scripts (client "lua") apart. Commands from
  `own_clients` (the benchmark's connections) are counted apart from everyone else's (the workers').
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import uuid
from collections import Counter
from pathlib import Path


class PgTrace:
    def __init__(self, connection) -> None:
        self.connection = connection  # django.db.connection
        self.round_trips = 0
        self.simple_queries: list[str] = []

    def __enter__(self) -> PgTrace:
        import psycopg

        self.connection.ensure_connection()
        self.pgconn = self.connection.connection.pgconn
        fd, self.path = tempfile.mkstemp(prefix="bench-pgtrace-")
        self.file = os.fdopen(fd, "w")
        self.pgconn.trace(self.file.fileno())
        self.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)
        return self

    def __exit__(self, *exc) -> None:
        self.pgconn.untrace()
        self.file.close()
        text = Path(self.path).read_text(errors="replace")
        os.unlink(self.path)
        for line in text.splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[0] == "B" and parts[2].startswith("ReadyForQuery"):
                self.round_trips += 1
            elif len(parts) >= 4 and parts[0] == "F" and parts[2] == "Query":
                self.simple_queries.append(parts[3].strip().strip('"')[:60])


_MONITOR_LINE = re.compile(rb'^[\d.]+ \[\d+ ([^\]]+)\] "([^"]*)"')


class RedisMonitor:
    """Collects MONITOR lines until stop(). Counters: own (the benchmark's clients), others, lua."""

    def __init__(self, redis, own_clients: set[str]) -> None:
        self.redis = redis
        self.own_clients = own_clients
        self.own: Counter[str] = Counter()
        self.others: Counter[str] = Counter()
        self.lua: Counter[str] = Counter()
        self.token = f"bench-monitor-stop-{uuid.uuid4().hex}"
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RedisMonitor:
        self.redis.ping()  # stop() sends its ECHO on this client: connect it now, not while counting
        self._thread.start()
        self._ready.wait(5)
        return self

    def _run(self) -> None:
        connection = self.redis.connection_pool.make_connection()
        connection.connect()
        connection.send_command("MONITOR")
        connection.read_response()
        self._ready.set()
        stop = self.token.encode()
        try:
            while True:
                line = connection.read_response()
                if isinstance(line, str):
                    line = line.encode()
                match = _MONITOR_LINE.match(line)
                if not match:
                    continue
                client, command = match.group(1).decode(), match.group(2).decode().upper()
                if command == "ECHO" and stop in line:
                    return
                if client == "lua":
                    self.lua[command] += 1
                elif client in self.own_clients:
                    self.own[command] += 1
                else:
                    self.others[command] += 1
        finally:
            connection.disconnect()

    def stop(self) -> RedisMonitor:
        self.redis.echo(self.token)
        self._thread.join(10)
        return self


def client_addresses(redis) -> set[str]:
    """host:port of every client connected now."""
    return {client["addr"] for client in redis.client_list()}


def reads_processed(redis) -> int:
    """Read events Redis handled so far: one per request packet a client sent, i.e. round trips."""
    return int(redis.info("stats")["total_reads_processed"])
