"""One module per ``vectra`` subcommand (see capture_agent.cli)."""
