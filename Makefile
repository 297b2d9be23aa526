# The two set-up commands of the README. Both create or reuse .venv first.
PY := .venv/bin/python

.PHONY: env demo test

env:
	@bash tools/misc/setup_env.sh

demo: env
	$(PY) tools/misc/demo.py

test: env
	$(PY) -m pytest tests -q -n auto --maxprocesses=4 --dist worksteal
