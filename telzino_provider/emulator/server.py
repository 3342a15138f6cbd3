"""HTTP transport for the emulator: a quiet, keep-alive, thread-per-connection server.

Design points, all for clients such as ``requests.Session`` and for benchmarks with hundreds of
concurrent pollers:

* HTTP/1.1 with keep-alive; every response carries ``Content-Length`` and is written with a single
  ``sendall`` (head and body together) on a ``TCP_NODELAY`` socket, so no Nagle/delayed-ACK stalls.
* One daemon thread per connection (``ThreadingHTTPServer``), so a hanging or slow request never
  blocks others; a 1024-deep listen backlog for bursts of new connections.
* No per-request stderr logging; every request, including faulted, rejected and dropped ones, is
  appended to the request log *before* its response is written, so a client that has its response
  can rely on the log entry being there.
* ``stop()`` also shuts down idle keep-alive connections, so pooled clients see the server go away.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from telzino_provider.emulator.requestlog import RequestLog, RequestRecord
from telzino_provider.emulator.routes import Request, Response, TelzinoApi, error_response
from telzino_provider.emulator.validation import ApiError

_MAX_CHUNK_LINE = 65_537


class _BadFraming(Exception):
    """The request body could not be delimited (bad Content-Length or chunked encoding)."""


class EmulatorHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` that knows its API, its request log and its open connections."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], api: TelzinoApi, log: RequestLog) -> None:
        self.api = api
        self.log = log
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() calls socket.getfqdn(), a reverse DNS lookup that can take seconds.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every open client connection (their handler threads then exit)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients vanishing mid-request is routine (timeouts, pool resets): stay quiet about it.
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "telzino-emulator"
    sys_version = ""
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        pass  # quiet: the request log is the record

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        headers = {name: value for name, value in self.headers.items()}
        response: Response | None = None
        try:
            raw = self._read_body()
        except _BadFraming:
            self.close_connection = True  # cannot find the next request on this connection
            raw, response = b"", error_response(ApiError(400, "Malformed request body framing"))
        body, is_json = _parse_json(raw)
        if response is None:
            request = Request(
                method=self.command,
                path=url.path,
                query=query,
                headers={name.lower(): value for name, value in headers.items()},
                json_body=body,
                body_is_json=is_json,
            )
            response = self.server.api.handle(request)
        self.server.log.append(RequestRecord(self.command, url.path, query, response.status, body, headers))
        self._send(response)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise _BadFraming from None
        if size < 0:
            raise _BadFraming
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            line = self.rfile.readline(_MAX_CHUNK_LINE)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadFraming from None
            if size == 0:
                while self.rfile.readline(_MAX_CHUNK_LINE) not in (b"\r\n", b"\n", b""):
                    pass  # discard trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(_MAX_CHUNK_LINE)  # the CRLF after each chunk

    def _send(self, response: Response) -> None:
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        lines = [
            f"HTTP/1.1 {response.status} {_reason(response.status)}",
            f"Date: {self.date_time_string()}",
            f"Server: {self.server_version}",
            *(f"{name}: {value}" for name, value in response.headers),
            f"Content-Length: {len(response.body)}",
        ]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head if self.command == "HEAD" else head + response.body)
        except OSError:
            self.close_connection = True  # the client went away (e.g. its read timeout fired)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _parse_json(raw: bytes) -> tuple[Any, bool]:
    if not raw:
        return None, False
    try:
        return json.loads(raw), True
    except ValueError:  # includes UnicodeDecodeError
        return None, False
