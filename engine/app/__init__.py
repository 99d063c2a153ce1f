"""The composition root: the `cohost` verbs and the wiring that builds each stage from config and
hands it its parts. It sits above every stage; no stage imports it (tests/test_import_graph.py)."""
