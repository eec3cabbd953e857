"""The talk as data: step files, checks that read a lab host's state, and the runner."""
