"""
The twistd service: options, C{makeService}, and worker processes.
"""

__all__: list[str] = []
