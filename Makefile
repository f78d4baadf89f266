# The two commands of the README:
#   make book   builds the HTML book (book/_build/html/) and the released exercises (exercises/)
#   make test   runs the whole test suite (what CI runs)
# Both create the virtual environment .venv when it is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.dropout-course-installed
# nbgrader calls alembic (and jupyter) from PATH: the environment's bin goes first.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: all venv system-deps book test lint bench

all: book

$(STAMP): pyproject.toml autograder/lab/torchvision_compat.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[book,grading,dev]'
	$(PY) -m autograder.lab.torchvision_compat --write-pth
	@touch $@

venv: $(STAMP)

system-deps:
	@bash .ci/system-deps.sh test

book: venv
	@bash .ci/system-deps.sh book
	$(PY) -m autograder build-book
	$(PY) -m autograder release

test: venv system-deps lint
	$(PY) -m pytest

lint: venv
	$(PY) -m ruff check .

bench: venv
	$(PY) -m autograder bench
