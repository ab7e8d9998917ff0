"""Paint a label map in the browser and see the run's image (``python app.py --name NAME``).

:mod:`painter.engine` loads the run as test.py does and synthesises; :mod:`painter.server`
serves the page (``static/``) and the JSON / PNG endpoints; :mod:`painter.classes` names the
classes; :mod:`painter.labelmaps` turns bytes into class indices and back; :mod:`painter.params`
reads and range-checks the numbers of a request. See docs/painter.md.
"""
