"""
A tiny authoritative DNS server for the end-to-end tests (Twisted's DNS
server over UDP on 127.0.0.1), run as its own process:
L{DNSServer} starts it with the C{CNAME} records to serve and stops it by
its pid.

    python -m tests.e2e.dnsserver RECORDS_JSON

C{RECORDS_JSON} maps names to their C{CNAME} target, or to C{"NODATA"}
(the name exists, without a C{CNAME}), C{"SERVFAIL"} (the server fails) or
C{"SILENT"} (no answer ever); any other name does not exist (C{NXDOMAIN}).
The server prints the port it listens on, then serves until stopped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Optional

from tests.e2e.aioproxy import REPO, stop_process

__all__ = ["DNSServer", "TTL"]

#: The TTL of every record served.
TTL = 300


class DNSServer:
    """
    The DNS server process, serving C{records} (see the module docstring).

    @ivar port: its UDP port on 127.0.0.1.
    """

    def __init__(self, records: dict[str, str], timeout: float = 60) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.dnsserver", json.dumps(records)],
            # Its log (a traceback for each SERVFAIL it is told to give)
            # is not the tests' business.
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)
        try:
            assert self.process.stdout is not None
            line = self.process.stdout.readline()
            self.port = int(line)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """
        Stop it, by its pid.
        """
        stop_process(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _serve(records: dict[str, str]) -> None:
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred, fail, succeed
    from twisted.names import common, dns, error, server

    class Records(common.ResolverBase):
        def _lookup(self, name: bytes, cls: int, type: int, timeout: Any) -> "Deferred[Any]":
            key = name.decode("ascii").lower()
            target: Optional[str] = records.get(key)
            if target is None:
                return fail(error.DomainError(key))
            if target == "SERVFAIL":
                return fail(RuntimeError("told to fail"))
            if target == "SILENT":
                return Deferred()
            if target == "NODATA" or type != dns.CNAME:
                return succeed(([], [], []))
            record = dns.RRHeader(name=name, type=dns.CNAME, ttl=TTL, auth=True,
                                  payload=dns.Record_CNAME(target.encode("ascii"), ttl=TTL))
            return succeed(([record], [], []))

    factory = server.DNSServerFactory(authorities=[Records()])
    port = reactor.listenUDP(0, dns.DNSDatagramProtocol(factory),  # type: ignore[attr-defined]
                             interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
