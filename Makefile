# The two commands of the README. Both create .venv and install requirements.txt when needed.
.PHONY: run test lint

run:  ## set up and run web + worker + scheduler (SQLite and a local Redis by default)
	deploy/dev.sh

test:  ## the whole test suite against the real PostgreSQL and Redis
	deploy/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
