from mec_orchestrator.cli import main

main()
