"""A static results page (``index.html``) listing saved images, as SPADE's web pages do."""
import html
import os

from util.fileio import atomic_write_text


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
        self.rows.append(f'<h3>{html.escape(text)}</h3>')

    def add_images(self, ims: list[str], txts: list[str], links: list[str], width: int = 256) -> None:
        cells = []
        for im, txt, link in zip(ims, txts, links):
            src, href = html.escape(f'images/{im}'), html.escape(f'images/{link}')
            cells.append(f'<td style="word-wrap: break-word;" halign="center" valign="top"><p>'
                         f'<a href="{href}"><img style="width:{width}px" src="{src}"></a><br>'
                         f'<p>{html.escape(txt)}</p></p></td>')
        self.rows.append('<table border="1" style="table-layout: fixed;"><tr>' + ''.join(cells) + '</tr></table>')

    def save(self) -> str:
        meta = f'<meta http-equiv="refresh" content="{self.refresh}">' if self.refresh > 0 else ''
        page = (f'<!DOCTYPE html><html><head><meta charset="utf-8">{meta}<title>{html.escape(self.title)}</title>'
                f'</head><body>\n' + '\n'.join(self.rows) + '\n</body></html>\n')
        path = os.path.join(self.web_dir, 'index.html')
        atomic_write_text(path, page)
        return path
