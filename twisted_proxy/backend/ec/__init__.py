"""
Erasure-coded objects on the storage nodes: fragment archive PUTs with
their multiphase commit (L{putter}), a client body encoded and fanned out a
segment at a time (L{upload}), and fragment archives read, decoded and
resumed on other nodes (L{fragments}, L{decoder}).
"""

__all__: list[str] = []
