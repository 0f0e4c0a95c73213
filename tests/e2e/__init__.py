"""End-to-end tests: real Swift storage servers, redis-server, twistd."""
