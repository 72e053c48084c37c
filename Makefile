# The commands of the README. run, test and test-fast create .venv and install requirements.txt when needed.
.PHONY: run test test-fast lint

run:  ## set up and run web + worker + scheduler (SQLite and a local Redis by default)
	deploy/dev.sh

test:  ## the whole test suite against the real PostgreSQL and Redis, after the lint checks
	deploy/test.sh

test-fast:  ## every test that starts no process (no worker, scheduler, redis-server, browser); no lint
	deploy/test.sh --fast

lint:  ## ruff's checks (complexity included) and its format check, as deploy/test.sh runs them
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
