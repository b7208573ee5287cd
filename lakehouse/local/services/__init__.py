"""One module per service of the local stack, each a process the stack starts and stops."""
