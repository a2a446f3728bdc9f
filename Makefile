.PHONY: run test
# 1) install into .venv, migrate, create the demo, serve on http://demo.localhost:8000/
run:
	bash .ci/serve
# 2) install what the tests need and run the whole suite (PostgreSQL + Redis, then SQLite)
test:
	bash .ci/test
