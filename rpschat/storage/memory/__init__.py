"""The ports kept in this process, one module per port as in storage/redis/: nothing outlives
a restart, and nothing is shared with another node."""
