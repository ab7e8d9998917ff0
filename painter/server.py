"""The painter's HTTP server: the page, and JSON / PNG endpoints, on 127.0.0.1 only.

Threaded (:class:`http.server.ThreadingHTTPServer`): the page stays responsive while the
generator runs; :class:`painter.engine.Painter` lets one generator call run at a time.

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
"""
import json
import os
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from painter.engine import Painter
from painter.labelmaps import RequestError, index_png
from util.errors import UserError, user_message

HOST = '127.0.0.1'
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
PAGES = {'/': ('index.html', 'text/html; charset=utf-8'),
         '/index.html': ('index.html', 'text/html; charset=utf-8'),
         '/painter.js': ('painter.js', 'text/javascript; charset=utf-8')}
MAX_BODY = 64 * 1024 * 1024


class PainterServer(ThreadingHTTPServer):
    daemon_threads = True  # a stuck browser connection never keeps the process alive

    def __init__(self, painter: Painter, port: int = 0, quiet: bool = False) -> None:
        self.painter, self.quiet = painter, quiet
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
            tail = path.rsplit('/', 1)[1]
            if not tail.isdigit():
                raise RequestError(f"'{tail}' is not a test map number")
            return self._json(painter.test_map(int(tail)))
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

    def _body(self) -> bytes:
        try:
            length = int(self.headers.get('Content-Length') or 0)
        except ValueError:
            self.close_connection = True
            raise RequestError('bad Content-Length header') from None
        if length > MAX_BODY:
            self.close_connection = True
            raise RequestError(f'the upload is {length} bytes, more than the {MAX_BODY // 2 ** 20} MiB the painter '
                               'accepts')
        return self.rfile.read(length) if length > 0 else b''

    def _json(self, value, status: int = 200) -> None:
        self._send(status, json.dumps(value).encode('utf-8'), 'application/json')

    def _error(self, status: int, message: str) -> None:
        try:
            self._json({'error': message}, status)
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
