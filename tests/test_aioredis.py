"""
Tests for L{twisted_proxy_aio.redisprocess} that run no process.
"""

from typing import Optional

from twisted.internet.error import ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy_aio import redisprocess
from twisted_proxy_aio.redisprocess import RedisProcessService, wants_redis


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


class _ProcessReactor(Clock):
    """
    A clock that records the processes it is asked to spawn.
    """

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[tuple[ProcessProtocol, list[str]]] = []

    def spawnProcess(self, protocol: ProcessProtocol, executable: str, args: list[str],
                     env: object = None, path: object = None) -> None:
        self.spawned.append((protocol, args))


class RestartTests(SynchronousTestCase):
    """
    L{RedisProcessService} restarts a C{redis-server} that exits while it
    runs, on the same port, as the storage servers are restarted.
    """

    def setUp(self) -> None:
        self.patch(redisprocess, "free_port", lambda: 16379)
        self.reactor = _ProcessReactor()
        self.service = RedisProcessService(self.reactor, program="/usr/bin/redis-server")
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def exit(self, index: int = -1) -> None:
        protocol, _ = self.reactor.spawned[index]
        protocol.processEnded(Failure(ProcessTerminated(signal=9)))

    def test_restartedWhenKilled(self) -> None:
        [(_, args)] = self.reactor.spawned
        self.assertIn("16379", args)
        self.reactor.advance(20)
        self.exit()
        self.assertEqual(len(self.reactor.spawned), 1)
        self.reactor.advance(0.5)
        self.assertEqual(len(self.reactor.spawned), 2)
        self.assertEqual(self.reactor.spawned[1][1], args)
        self.assertEqual(self.service.url, "redis://127.0.0.1:16379/0")

    def test_backoff(self) -> None:
        """
        A server that keeps exiting at once is restarted ever more rarely.
        """
        self.exit()
        self.reactor.advance(0.5)
        self.exit()
        self.reactor.advance(0.9)
        self.assertEqual(len(self.reactor.spawned), 2)
        self.reactor.advance(0.1)
        self.assertEqual(len(self.reactor.spawned), 3)

    def test_notRestartedWhenStopping(self) -> None:
        self.service.stopService()
        self.exit()
        self.reactor.advance(60)
        self.assertEqual(len(self.reactor.spawned), 1)

    def test_stopCancelsRestart(self) -> None:
        self.exit()
        self.service.stopService()
        self.reactor.advance(60)
        self.assertEqual(len(self.reactor.spawned), 1)
