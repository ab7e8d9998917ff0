"""Driving the painter's page in headless Chromium (Selenium): for the browser test and for
the screenshot in docs/painter.md.

    python -m painter.browser --name demo --out docs/images/painter.png

starts the painter on a free port, loads a map of the test split, paints a stroke and fills a
region, waits for the image and saves a screenshot of the page.
"""
import argparse
import importlib.util
import os
import shutil
import sys
import threading
import time
from typing import Optional

BROWSERS = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable')
DRIVERS = ('chromedriver',)


def find(names) -> Optional[str]:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def missing() -> str:
    """Why the page cannot be driven here ('' when it can)."""
    if importlib.util.find_spec('selenium') is None:
        return 'selenium is not installed (make browser-test installs it into .venv)'
    if not find(BROWSERS):
        return 'no Chromium found (apt-get install chromium chromium-driver, or make browser-test)'
    if not find(DRIVERS):
        return 'no chromedriver found (apt-get install chromium-driver, or make browser-test)'
    return ''


def chrome(download_dir: Optional[str] = None, size: tuple = (1400, 1000)):
    """A headless Chromium; files the page downloads land in ``download_dir``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = find(BROWSERS)
    for argument in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                     f'--window-size={size[0]},{size[1]}', '--force-device-scale-factor=1',
                     '--hide-scrollbars'):
        options.add_argument(argument)
    if download_dir:
        options.add_experimental_option('prefs', {'download.default_directory': download_dir,
                                                  'download.prompt_for_download': False})
    driver = webdriver.Chrome(options=options, service=Service(find(DRIVERS)))
    if download_dir:
        driver.execute_cdp_cmd('Browser.setDownloadBehavior', {'behavior': 'allow', 'downloadPath': download_dir})
    return driver


class Page:
    """The painter's page in a driver, with the operations a person does."""

    def __init__(self, driver, url: str, timeout: float = 300) -> None:
        self.driver, self.timeout = driver, timeout
        driver.get(url)
        self.wait_idle()
        self.W, self.H = driver.execute_script('return [window.painter.W, window.painter.H]')

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, condition, what: str) -> None:
        from selenium.webdriver.support.ui import WebDriverWait
        WebDriverWait(self.driver, self.timeout, poll_frequency=0.05).until(lambda d: condition(), what)

    def wait_idle(self) -> None:
        """Until the image shown is the one for the current map."""
        self.wait(lambda: self.js('return !!(window.painter && window.painter.info && window.painter.idle())'),
                  'the page never showed the image of its map')

    def version(self) -> int:
        return self.js('return window.painter.version')

    def click(self, css: str) -> None:
        from selenium.webdriver.common.by import By
        self.driver.find_element(By.CSS_SELECTOR, css).click()

    def choose_class(self, index: int) -> None:
        self.click(f'.swatch[data-index="{index}"]')

    def choose_tool(self, tool: str) -> None:
        self.click(f'#tool-{tool}')

    def brush_size(self, size: int) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
        box = self.driver.find_element(By.ID, 'brush-size-value')
        box.clear()
        box.send_keys(str(size), Keys.TAB)

    def erase_class(self, index: int) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select
        Select(self.driver.find_element(By.ID, 'erase-class')).select_by_value(str(index))

    def point(self, x: int, y: int) -> tuple[int, int]:
        """Viewport coordinates of the centre of label pixel (x, y)."""
        left, top, width, height = self.js(
            "const c = document.getElementById('label-canvas'); const r = c.getBoundingClientRect();"
            "return [r.left + c.clientLeft, r.top + c.clientTop, c.clientWidth, c.clientHeight];")
        return round(left + (x + 0.5) * width / self.W), round(top + (y + 0.5) * height / self.H)

    def drag(self, start: tuple, end: tuple) -> None:
        """Presses the mouse on label pixel ``start``, moves to ``end``, releases."""
        from selenium.webdriver.common.actions import interaction
        from selenium.webdriver.common.actions.action_builder import ActionBuilder
        from selenium.webdriver.common.actions.pointer_input import PointerInput
        actions = ActionBuilder(self.driver, mouse=PointerInput(interaction.POINTER_MOUSE, 'mouse'))
        actions.pointer_action.move_to_location(*self.point(*start)).pointer_down()
        actions.pointer_action.move_to_location(*self.point(*end)).pointer_up()
        actions.perform()

    def changed_and_idle(self, before: int) -> None:
        self.wait(lambda: self.version() > before, 'the page did not take the change')
        self.wait_idle()

    def labels(self) -> list:
        return self.js('return Array.from(window.painter.labels)')

    def shown_image(self) -> bytes:
        """The bytes of the PNG the page shows."""
        import base64
        encoded = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(document.getElementById('image').src).then(r => r.arrayBuffer()).then(b => {"
            "  const u = new Uint8Array(b); let s = '';"
            "  for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]);"
            "  done(btoa(s)); });")
        return base64.b64decode(encoded)

    def message(self) -> tuple[str, str]:
        return tuple(self.js("const m = document.getElementById('message'); return [m.className, m.textContent]"))


def wait_for_file(path: str, timeout: float = 60) -> bytes:
    """The bytes of a download once Chromium has finished writing it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.isfile(path) and not os.path.exists(path + '.crdownload') and os.path.getsize(path) > 0:
            time.sleep(0.2)
            with open(path, 'rb') as handle:
                return handle.read()
        time.sleep(0.1)
    folder = os.path.dirname(path)
    raise AssertionError(f'{path} was not downloaded (the folder holds {sorted(os.listdir(folder))})')


def screenshot(argv=None) -> None:
    parser = argparse.ArgumentParser(description='screenshot of the painter with a painted map')
    parser.add_argument('--out', default='docs/images/painter.png')
    parser.add_argument('--test_map', type=int, default=3, help='map of the test split to start from')
    own, rest = parser.parse_known_args(argv)
    reason = missing()
    if reason:
        sys.exit(f'painter.browser: {reason}')
    from painter.engine import Painter
    from painter.server import serve
    painter = Painter.from_argv(rest)
    server = serve(painter, 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = chrome(size=(1280, 920))
    try:
        page = Page(driver, server.url)
        if painter.test_split()['items']:
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support.ui import Select
            Select(driver.find_element(By.ID, 'test-split')).select_by_value(str(own.test_map))
            before = page.version()
            page.click('#load-test')
            page.changed_and_idle(before)
        w, h = page.W, page.H
        # two strokes: lavender (class 6 of the built-in dataset) across the lower half, brick (1) in the sky
        for cls, size, start, end in ((6, w // 12, (w // 8, 7 * h // 8), (7 * w // 8, 5 * h // 8)),
                                      (1, w // 16, (w // 4, h // 8), (3 * w // 4, h // 8))):
            page.choose_class(min(cls, len(painter.classes) - 1))
            page.brush_size(max(1, size))
            before = page.version()
            page.drag(start, end)
            page.changed_and_idle(before)
        driver.execute_script("document.getElementById('message').textContent = ''; document.activeElement.blur()")
        driver.save_screenshot(own.out)
        print(f'saved {own.out}')
    finally:
        driver.quit()
        server.shutdown()


if __name__ == '__main__':
    screenshot()
