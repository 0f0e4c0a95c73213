"""
Erasure coding as Swift does it, with no I/O: the coding scheme of a
storage policy and its size arithmetic (L{scheme}), client ranges turned
into fragment ranges and decoded segments trimmed back (L{ranges}),
choosing which fragment answers make an object (L{buckets}), and the MIME
documents of the multiphase fragment PUT (L{mime}).
"""

__all__: list[str] = []
