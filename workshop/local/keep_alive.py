"""HTTP/1.1 keep-alive for the local servers: a connection carries request after request, as on
AWS's endpoints, and is closed when its server stops."""

from __future__ import annotations

import contextlib
import io
import socket
import traceback
from typing import Any

from workshop.local.http_framing import (
    TLS_REFUSED,
    BadFraming,
    persists,
    read_body,
    refusal,
    sends_tls,
)


class NoAnswer(Exception):
    """Raised by a WSGI app served by `wsgi_handler`: the connection is closed with no answer,
    as a network that drops it, or a server that dies, closes it."""


class ClosedOnStop:
    """A request handler mixin: the server knows its open connections, so that `close_all` can
    end them when it stops. socketserver's shutdown() only stops accepting new ones: a kept-alive
    connection would go on being served by a stopped server."""

    def setup(self) -> None:
        super().setup()
        self.server.__dict__.setdefault("connections", set()).add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()


def close_all(server: Any) -> None:
    """End every connection a server of ClosedOnStop handlers still has open."""
    for connection in list(getattr(server, "connections", ())):
        with contextlib.suppress(OSError):  # the client closed it meanwhile
            connection.shutdown(socket.SHUT_RDWR)


def wsgi_handler() -> type:
    """werkzeug's request handler, quiet, and keeping each connection open between requests.

    werkzeug's own closes every connection after its answer (and drains the socket, which would
    swallow a next request): against the local AWS each SDK call then paid for a new connection
    and a new thread, 0.6 ms of a 2.6 ms GetItem.
    """
    # Imported here, as moto's server is: an external endpoint never needs them.
    from werkzeug.exceptions import InternalServerError
    from werkzeug.serving import WSGIRequestHandler

    class KeepAlive(ClosedOnStop, WSGIRequestHandler):
        # The headers and the body go in two writes: without this the body would wait for the
        # client's delayed acknowledgement of the headers (40 ms).
        disable_nagle_algorithm = True

        def log_request(self, *args: Any) -> None:
            pass  # one line per AWS call would drown what the attendee came to see

        def handle_one_request(self) -> None:
            if sends_tls(self.rfile):  # an SDK would wait for a TLS answer: none comes
                self.requestline = self.request_version = self.command = ""
                self.send_error(400, TLS_REFUSED)
                return
            super().handle_one_request()

        def send_error(self, code: int, message: str | None = None, explain: Any = None) -> None:
            super().send_error(code, message, explain)
            self.server.log("error", "Local AWS refused a request: %s", refusal(code, message))

        def log_error(self, *args: Any) -> None:
            pass  # send_error's line says why; http.server's would quote the bytes it got

        def run_wsgi(self) -> None:
            # Read whole before the app runs: whatever it left unread would otherwise be taken
            # for the next request on this connection.
            try:
                body, reusable = read_body(self.request_version, self.headers, self.rfile)
            except BadFraming as refused:
                self.server.log("error", "Local AWS refused a request: %s", refused)
                self.send_response(refused.status)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")  # which also ends handle()'s loop
                self.end_headers()
                return
            environ = self.make_environ()
            environ["wsgi.input"] = io.BytesIO(body)
            environ["wsgi.input_terminated"] = True
            # The app sees the body as read: its length known, no chunks left in it.
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            self.close_connection = not (reusable and persists(self.request_version, self.headers))
            answer: list[Any] = []
            written: list[bytes] = []

            def start_response(status: str, headers: list, exc_info: Any = None) -> Any:
                answer[:] = [status, headers]
                return written.append  # WSGI's legacy write(): kept, in order, before the rest

            try:
                chunks = self.server.app(environ, start_response)
                try:
                    data = b"".join([*written, *chunks])
                finally:
                    getattr(chunks, "close", lambda: None)()
                if not answer:
                    raise RuntimeError("the application returned without start_response")
            except NoAnswer:
                self.close_connection = True
                return
            except Exception:  # as werkzeug does: a 500, and the error in the server's log
                self.server.log("error", "Error on request:\n%s", traceback.format_exc())
                answer.clear()
                written.clear()
                data = b"".join(InternalServerError()(environ, start_response))
            status, headers = answer
            code = int(status.split(" ", 1)[0])
            try:
                self.send_response(code, status.partition(" ")[2])
                for name, value in headers:
                    if name.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(name, value)
                names = {name.lower() for name, _ in headers}
                bodiless = self.command == "HEAD" or code in (204, 304) or code < 200
                if "content-length" not in names and not bodiless:
                    self.send_header("Content-Length", str(len(data)))
                if self.close_connection:  # asked for by the client, or by the framing
                    self.send_header("Connection", "close")
                elif self.request_version == "HTTP/1.0":  # whose default is to close (9.3)
                    self.send_header("Connection", "keep-alive")
                self.end_headers()
                if not bodiless:
                    self.wfile.write(data)
            except ConnectionError:  # the client gave up waiting (a stalled answer): its loss
                self.close_connection = True

    return KeepAlive
