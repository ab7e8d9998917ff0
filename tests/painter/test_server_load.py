"""The painter's server under load: every request is answered, with its result or with 503 and
Retry-After, never with a reset connection. Loopback only, a fixed number of requests, every
wait bounded, so the tests stop by themselves."""
import http.client
import json
import queue
import threading
import time
from collections import Counter

import numpy as np

from painter.server import MAX_IN_FLIGHT, RETRY_AFTER_S
from painter_helpers import png_array, scene_map

W = H = 32  # the tiny run's --crop_size
CLIENTS, REQUESTS = 40, 10
TIMEOUT_S = 30  # for any one wait; the tests take a few seconds


def ask(port: int, synthesize: bool) -> tuple:
    """(synthesize, status, Retry-After, payload) of one request on a connection of its own, as
    a browser's fetch sends it; raises what the connection raises (a reset, a timeout)."""
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=TIMEOUT_S)
    try:
        if synthesize:
            connection.request('POST', f'/api/synthesize?width={W}&height={H}&dtype=u8',
                               body=scene_map(W, H).tobytes())
        else:
            connection.request('GET', '/api/info')
        response = connection.getresponse()
        return synthesize, response.status, response.getheader('Retry-After'), response.read()
    finally:
        connection.close()


def check_answer(answer: tuple, image: np.ndarray) -> None:
    synthesize, status, retry_after, payload = answer
    if status == 503:
        assert retry_after == str(RETRY_AFTER_S)
        assert f'the painter is busy ({MAX_IN_FLIGHT} requests in progress); retry in' in json.loads(payload)['error']
    elif synthesize:
        assert status == 200 and np.array_equal(png_array(payload), image)
    else:
        assert status == 200 and json.loads(payload)['name'] == 'tiny'


def join_all(threads: list) -> None:
    deadline = time.monotonic() + 4 * TIMEOUT_S
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads)


def test_a_burst_of_clients_is_answered_never_reset(served):
    """40 clients at once, 10 requests each, every other one a synthesis: with http.server's
    listen backlog of 5 some of these connections were reset."""
    image = png_array(served.synthesize(scene_map(W, H))[1])
    port = served.server.server_address[1]
    answers, failures = [], []
    start = threading.Barrier(CLIENTS)

    def client() -> None:
        start.wait(TIMEOUT_S)  # all connect at once
        for i in range(REQUESTS):
            try:
                answers.append(ask(port, synthesize=i % 2 == 0))
            except (OSError, http.client.HTTPException) as exc:  # reset, closed without an answer, timeout
                failures.append(f'{type(exc).__name__}: {exc}')

    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    join_all(threads)
    assert failures == [], f'{len(failures)} of {CLIENTS * REQUESTS} requests got no answer: {failures[:3]}'
    assert len(answers) == CLIENTS * REQUESTS
    statuses = Counter(answer[1] for answer in answers)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] >= MAX_IN_FLIGHT, statuses  # the bound refuses only what is beyond it
    for answer in answers:
        check_answer(answer, image)
    assert served.json('api/info')[0] == 200


def test_requests_beyond_the_bound_are_told_to_retry_at_once(served, monkeypatch):
    """While MAX_IN_FLIGHT syntheses wait, more requests get 503 without waiting; the waiting
    ones then finish with their image, and their slots are free again."""
    image = png_array(served.synthesize(scene_map(W, H))[1])
    port = served.server.server_address[1]
    gate = threading.Event()
    synthesize_request = served.painter.synthesize_request

    def held(*args, **kwargs):
        gate.wait(TIMEOUT_S)
        return synthesize_request(*args, **kwargs)

    monkeypatch.setattr(served.painter, 'synthesize_request', held)
    extra = 4
    answers = queue.Queue()
    threads = [threading.Thread(target=lambda: answers.put(ask(port, synthesize=True)), daemon=True)
               for _ in range(MAX_IN_FLIGHT + extra)]
    try:
        for thread in threads:
            thread.start()
        early = [answers.get(timeout=TIMEOUT_S / 3) for _ in range(extra)]  # before any synthesis ends
        assert [answer[1] for answer in early] == [503] * extra
        for answer in early:
            check_answer(answer, image)
        status, _, payload = served.request('api/info')  # every slot is taken, whatever the endpoint
        assert status == 503 and 'busy' in json.loads(payload)['error']
    finally:
        gate.set()
        join_all(threads)
    late = [answers.get_nowait() for _ in range(MAX_IN_FLIGHT)]
    assert [answer[1] for answer in late] == [200] * MAX_IN_FLIGHT
    for answer in late:
        check_answer(answer, image)
    monkeypatch.undo()
    assert served.json('api/info')[0] == 200
