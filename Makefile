# Two set-up commands for a fresh machine (Python 3.11+): `make run` and `make test`.
.PHONY: run test lint

run:
	bash scripts/venv.sh requirements.txt
	.venv/bin/python -m core up --demo

test:
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
