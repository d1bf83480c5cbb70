# The seed's Make targets, on top of the ledgerflow CLI. `make help` lists them.
# LEDGERFLOW runs the CLI (the release build by default); COMPOSE picks the docker stack.
LEDGERFLOW ?= cargo run --quiet --release -p ledgerflow --
ENV ?= dev
COMPOSE ?= -f deploy/docker-compose.$(ENV).yml
DOCKER = $(LEDGERFLOW) guard docker --

.PHONY: help dev up status logs backup restore migrate test down nuke check-volumes env-check verify-data

help:
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

dev: ## Run LedgerFlow on the embedded store (http://127.0.0.1:9001)
	$(LEDGERFLOW) serve

up: ## Start the docker stack of ENV (dev: LedgerFlow, PostgreSQL 17, Adminer)
	$(DOCKER) compose $(COMPOSE) up -d --build

status: ## Environment, store, counts, journal and backup health (non-zero on a problem)
	$(LEDGERFLOW) status

logs: ## Follow the docker stack's logs
	$(DOCKER) compose $(COMPOSE) logs -f --tail=200

backup: ## A backup, proven by a test restore
	$(LEDGERFLOW) backup

restore: ## Restore FILE (a name from `ledgerflow backup list`), after a pinned safety backup
	@test -n "$(FILE)" || { echo "usage: make restore FILE=ledgerflow_db_backup_….zst"; exit 2; }
	$(LEDGERFLOW) restore "$(FILE)"

migrate: ## Apply schema migrations (a verified backup is taken and pinned first)
	$(LEDGERFLOW) migrate

test: ## The test suite (both engines; starts its own PostgreSQL)
	cargo test --workspace

down: ## Stop the docker stack; volumes are kept (the guard refuses -v on protected ones)
	$(DOCKER) compose $(COMPOSE) down

nuke: ## Delete all data of a dev store (ENV=dev only; a verified backup first, then type DESTROY)
	@test "$(ENV)" = dev || { echo "nuke is for ENV=dev only"; exit 1; }
	$(LEDGERFLOW) nuke

check-volumes: ## The docker volumes labelled protected
	docker volume ls --filter label=com.ledgerflow.protect=true

env-check: ## Does the configured environment match the store's? (doctor)
	$(LEDGERFLOW) doctor

verify-data: ## Replay the journal against every row, and re-verify every backup
	$(LEDGERFLOW) journal verify
	$(LEDGERFLOW) backup verify --all
