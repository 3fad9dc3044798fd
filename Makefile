# The two set-up commands of the README, and a few conveniences.
.PHONY: demo test down bench

demo:  ## the main job: the demo on a local control plane
	scripts/bootstrap.sh
	.venv/bin/mec-orchestrator demo

test:  ## every test: lint, types, unit, property and control-plane tests
	scripts/test.sh

down:  ## stop the demo's control plane
	.venv/bin/mec-orchestrator devcluster down
