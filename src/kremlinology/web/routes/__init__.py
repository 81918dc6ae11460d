"""The explorer's routes, one ``APIRouter`` per area; ``create_app`` includes them all.

``scenarios`` (the scenario list, a scenario, its catalogue), ``results`` (what-ifs, families,
chronicles, fidelity), ``jobs`` (start and poll computations), ``server`` (health, report files,
the API docs page) and ``pages`` (the HTML pages for people).
"""
