"""
Tests for L{twisted_proxy_aio.redisprocess} that run no process.
"""

from typing import Optional

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy_aio import redisprocess
from twisted_proxy_aio.redisprocess import wants_redis


class WantsRedisTests(SynchronousTestCase):
    """
    L{wants_redis} reads C{redis} with Swift's true and false words.
    """

    def installed(self, program: Optional[str]) -> None:
        self.patch(redisprocess, "find_redis_server", lambda: program)

    def test_true(self) -> None:
        self.installed("/usr/bin/redis-server")
        for value in ("true", "Yes", " on ", "1", "t", "Y"):
            self.assertTrue(wants_redis({"redis": value}), value)

    def test_trueWithoutProgram(self) -> None:
        self.installed(None)
        self.assertRaises(ValueError, wants_redis, {"redis": "y"})

    def test_false(self) -> None:
        self.installed("/usr/bin/redis-server")
        for value in ("false", "No", " off ", "0", "f", "N"):
            self.assertFalse(wants_redis({"redis": value}), value)

    def test_auto(self) -> None:
        self.installed("/usr/bin/redis-server")
        self.assertTrue(wants_redis({}))
        self.assertTrue(wants_redis({"redis": " Auto "}))
        self.installed(None)
        self.assertFalse(wants_redis({"redis": "auto"}))

    def test_other(self) -> None:
        self.installed("/usr/bin/redis-server")
        self.assertRaises(ValueError, wants_redis, {"redis": "maybe"})
