"""One module per CLI command; each is thin and imports torch only inside the command body."""
