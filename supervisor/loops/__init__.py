"""Background loops: each reconciles once at start, then ticks on the injected clock.

None holds a lock across network I/O; each tick is a plain coroutine that tests call directly.
"""
