"""A static results page (``index.html``) listing saved images, as SPADE's web pages do."""
import html
import os
from urllib.parse import quote

from util.fileio import atomic_write_text


def href(path: str) -> str:
    """A relative link to ``path`` that a browser follows to that exact file: percent-encoded
    from the file system's bytes, so ``#``, ``?``, ``%``, spaces and names that are not UTF-8
    (which Python holds surrogate-escaped) all reach the file. Safe inside an HTML attribute."""
    return quote(os.fsencode(path), safe='/')


def readable(text: str) -> str:
    """``text`` as it may appear in a UTF-8 page: bytes that are not UTF-8 (surrogate-escaped
    file names) become U+FFFD instead of being written raw; markup characters are escaped."""
    return html.escape(os.fsencode(text).decode('utf-8', 'replace'))


class HTML:
    def __init__(self, web_dir: str, title: str, refresh: int = 0) -> None:
        self.web_dir = web_dir
        self.title = title
        self.refresh = refresh
        self.img_dir = os.path.join(web_dir, 'images')
        os.makedirs(self.img_dir, exist_ok=True)
        self.rows: list[str] = []

    def get_image_dir(self) -> str:
        return self.img_dir

    def add_header(self, text: str) -> None:
        self.rows.append(f'<h3>{readable(text)}</h3>')

    def add_images(self, ims: list[str], txts: list[str], links: list[str], width: int = 256) -> None:
        cells = []
        for im, txt, link in zip(ims, txts, links):
            src, target = href(f'images/{im}'), href(f'images/{link}')
            cells.append(f'<td style="word-wrap: break-word;" halign="center" valign="top"><p>'
                         f'<a href="{target}"><img style="width:{width}px" src="{src}"></a><br>'
                         f'<p>{readable(txt)}</p></p></td>')
        self.rows.append('<table border="1" style="table-layout: fixed;"><tr>' + ''.join(cells) + '</tr></table>')

    def save(self) -> str:
        meta = f'<meta http-equiv="refresh" content="{self.refresh}">' if self.refresh > 0 else ''
        page = (f'<!DOCTYPE html><html><head><meta charset="utf-8">{meta}<title>{readable(self.title)}</title>'
                f'</head><body>\n' + '\n'.join(self.rows) + '\n</body></html>\n')
        path = os.path.join(self.web_dir, 'index.html')
        atomic_write_text(path, page)
        return path
