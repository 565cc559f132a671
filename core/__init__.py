"""Project-wide helpers shared by the Rossmann pipeline and pets: the CLI runner, user-facing
errors, atomic file writes and plotting, seeding, process measurement and the kaggle CLI."""
