"""The running monitor: the daemon that wires it, the scheduler (and one check's
run), the link loops, reading a configuration for a reload (reloader) and
sharding (shard).
"""
