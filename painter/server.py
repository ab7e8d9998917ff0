"""The painter's HTTP server: the page, and JSON / PNG endpoints, on 127.0.0.1 only.

Threaded (:class:`http.server.ThreadingHTTPServer`): the page stays responsive while the
generator runs; :class:`painter.engine.Painter` lets one generator call run at a time.
Under load every request is answered: at most ``MAX_IN_FLIGHT`` are handled at once, and one
more is answered at once with 503 and ``Retry-After`` (never a reset connection).

Endpoints (errors: a status >= 400 and ``{"error": "<one line>"}``):

``GET  /``                       the page (``static/index.html``, ``static/painter.js``)
``GET  /api/info``               run, canvas size, classes (index, name, colour), VAE or not
``GET  /api/test_split``         ``{"items": [...], "reason": "..."}``
``GET  /api/test_split/<i>``     map ``i`` of the test split (JSON, see below)
``POST /api/synthesize``         raw map -> ``image/png``; query ``width``, ``height``, ``dtype``
                                 (``u8``, or ``u16`` little-endian), optional ``style_seed``, ``photo``
``POST /api/labelmap``           raw map -> the index PNG to download (same query)
``POST /api/upload_label``       a label map file -> JSON map; query ``filename``
``POST /api/style_photo``        a photo file -> ``{"photo": id}``; query ``filename``

A JSON map is ``{"width", "height", "dtype", "data": base64 of the raw map, "note"}``.
Numbers in a request are range-checked by :mod:`painter.params` (a 400 says the range).
"""
import json
import os
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from painter.engine import Painter
from painter.labelmaps import index_png
from painter.params import INDEX_RANGE, RequestError, parse_int
from util.errors import UserError, user_message

HOST = '127.0.0.1'
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
PAGES = {'/': ('index.html', 'text/html; charset=utf-8'),
         '/index.html': ('index.html', 'text/html; charset=utf-8'),
         '/painter.js': ('painter.js', 'text/javascript; charset=utf-8')}
MAX_BODY = 64 * 1024 * 1024
MAX_IN_FLIGHT = 16  # requests handled at once: bounds the threads at work and the bodies held in memory
RETRY_AFTER_S = 1


class PainterServer(ThreadingHTTPServer):
    daemon_threads = True  # a stuck browser connection never keeps the process alive
    # connections the kernel holds until accepted (clamped to net.core.somaxconn): with
    # http.server's 5, a burst of 40 clients overflowed it and connections were reset
    request_queue_size = 1024

    def __init__(self, painter: Painter, port: int = 0, quiet: bool = False) -> None:
        self.painter, self.quiet = painter, quiet
        self.slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        super().__init__((HOST, port), PainterHandler)

    @property
    def url(self) -> str:
        return f'http://{HOST}:{self.server_address[1]}/'


class PainterHandler(BaseHTTPRequestHandler):
    server_version = 'SPADEPainter/1.0'
    protocol_version = 'HTTP/1.1'

    # ------------------------------------------------------------------ routing
    def do_GET(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    def _handle(self, route) -> None:
        if not self.server.slots.acquire(blocking=False):
            return self._busy()
        try:
            self._answer(route)
        finally:
            self.server.slots.release()

    def _answer(self, route) -> None:
        try:
            if not self._local_host():
                self.close_connection = True  # its body, if any, is left unread
                return self._error(403, 'the painter answers only at 127.0.0.1 or localhost')
            url = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            route(url.path, query)
        except RequestError as exc:
            self._error(400, str(exc))
        except UserError as exc:
            self._error(400, user_message(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away; nothing to answer
        except Exception as exc:  # a bug: keep serving, say so, keep the traceback in the terminal
            traceback.print_exc(file=sys.stderr)
            self._error(500, f'internal error ({type(exc).__name__}: {exc}); see the terminal running app.py')

    def _get(self, path: str, query: dict) -> None:
        painter = self.server.painter
        if path in PAGES:
            name, kind = PAGES[path]
            with open(os.path.join(STATIC, name), 'rb') as handle:
                return self._send(200, handle.read(), kind)
        if path == '/api/info':
            return self._json(painter.info())
        if path == '/api/test_split':
            return self._json(painter.test_split())
        if path.startswith('/api/test_split/'):
            index = parse_int(path.rsplit('/', 1)[1], 'the test map number', *INDEX_RANGE)
            return self._json(painter.test_map(index))
        self._error(404, f'no such page: {path}')

    def _post(self, path: str, query: dict) -> None:
        painter = self.server.painter
        body = self._body()
        if path == '/api/synthesize':
            png, seconds = painter.synthesize_request(body, query)
            return self._send(200, png, 'image/png', {'X-Synthesis-Seconds': f'{seconds:.3f}'})
        if path == '/api/labelmap':
            labels = painter.decode(body, query)
            name = f'{painter.opt.name}_label.png'
            return self._send(200, index_png(labels, painter.classes.colors), 'image/png',
                              {'Content-Disposition': f'attachment; filename="{name}"'})
        if path == '/api/upload_label':
            return self._json(painter.upload_label(body, _filename(query)))
        if path == '/api/style_photo':
            return self._json(painter.upload_photo(body, _filename(query)))
        self._error(404, f'no such endpoint: POST {path}')

    # ------------------------------------------------------------------ helpers
    def _local_host(self) -> bool:
        """Refuses requests addressed to another host name (DNS rebinding: a web page whose
        name points at 127.0.0.1 must not reach the painter)."""
        host = (self.headers.get('Host') or '').rsplit(':', 1)[0].strip('[]')
        return host in ('127.0.0.1', 'localhost', '')

    def _content_length(self) -> int:
        try:
            return parse_int(self.headers.get('Content-Length') or '0',
                             f"the upload's size in bytes (Content-Length; {MAX_BODY // 2 ** 20} MiB at most)",
                             0, MAX_BODY)
        except RequestError:
            self.close_connection = True  # the body cannot be told from the next request
            raise

    def _body(self) -> bytes:
        length = self._content_length()
        return self.rfile.read(length) if length > 0 else b''

    def _busy(self) -> None:
        """Answers 503 without doing the work. The body is read first: closing a connection
        with unread data makes the kernel reset it, and the client would never see the 503."""
        self.close_connection = True
        try:
            left = self._content_length()
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break  # the client closed its side
                left -= len(chunk)
            self._error(503, f'the painter is busy ({MAX_IN_FLIGHT} requests in progress); retry in '
                             f'{RETRY_AFTER_S} s', {'Retry-After': str(RETRY_AFTER_S), 'Connection': 'close'})
        except RequestError as exc:
            self._error(400, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _json(self, value, status: int = 200, headers: dict = None) -> None:
        self._send(status, json.dumps(value).encode('utf-8'), 'application/json', headers)

    def _error(self, status: int, message: str, headers: dict = None) -> None:
        try:
            self._json({'error': message}, status, headers)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, status: int, payload: bytes, kind: str, headers: dict = None) -> None:
        self.send_response(status)
        self.send_header('Content-Type', kind)
        self.send_header('Content-Length', str(len(payload)))
        self.send_header('Cache-Control', 'no-store')
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


def _filename(query: dict) -> str:
    name = os.path.basename(query.get('filename') or 'upload')
    return name or 'upload'


def serve(painter: Painter, port: int = 0, quiet: bool = False) -> PainterServer:
    """A server bound to 127.0.0.1:``port`` (0: any free port); call ``serve_forever``."""
    return PainterServer(painter, port, quiet)
