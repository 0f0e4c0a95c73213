# -*- test-case-name: tests.test_controllers,tests.e2e.test_expirer -*-
"""
What object writes and reads tell the object servers about expiry, for
replicated and erasure-coded policies alike: the expirer queue's headers
of a write carrying C{X-Delete-At}, and C{X-Open-Expired}.
"""

from __future__ import annotations

from typing import Optional

from twisted_proxy.controllers.base import Controller
from twisted_proxy.swift.expirer import (
    CLEAN_QUEUE_HEADER,
    expirer_slot_headers,
    open_expired,
)
from twisted_proxy.swift.http import HeaderDict

__all__ = ["ObjectExpiry"]


class ObjectExpiry(Controller):
    """
    The expiry part of an object controller.
    """

    def allow_open_expired(self) -> None:
        """
        Let the object servers open an object past its C{X-Delete-At}
        when the proxy allows it and the client asks, as Swift's proxy
        does for GET, HEAD and POST.
        """
        headers = self.request.headers
        if open_expired(self.settings.allow_open_expired, headers.get("X-Open-Expired")):
            headers["X-Backend-Open-Expired"] = "true"

    def expirer_headers(self, requests: int, container_replicas: int, base: HeaderDict,
                        queue: bool, object_quorum: Optional[int] = None
                        ) -> list[dict[str, str]]:
        """
        The expirer headers of each of a write's C{requests} backend
        requests, by slot, as Swift sends them: whether to clean the old
        queue entry, and with C{queue} and an C{X-Delete-At} (already
        validated) the task container and its nodes, so that the object
        servers queue the object for the expirer. What a plugin set in
        C{base} as L{CLEAN_QUEUE_HEADER} stands (Swift only sets a default).

        @param container_replicas: the container ring's replica count,
            which sets how many queue updates the write needs.
        @param object_quorum: the object policy's quorum, by default a
            replicated policy's of C{requests} replicas.
        """
        request = self.request
        delete_at = request.headers.get("X-Delete-At") if queue else None
        target = None
        if delete_at is not None:
            assert self.container is not None and self.obj is not None
            request.environ.setdefault("swift.log_info", []).append(
                f"x-delete-at:{delete_at}")
            expirer = self.context.expirer_queue()
            # Hashed as the bytes the client sent, as partitions are.
            task_container = expirer.task_container(
                int(delete_at), self.account.encode("latin-1"),
                self.container.encode("latin-1"), self.obj.encode("latin-1"))
            ring = self.context.rings.container
            task_part = ring.get_part(expirer.account, task_container)
            target = (task_container, task_part, ring.get_part_nodes(task_part))
        slots = expirer_slot_headers(requests, container_replicas, target, object_quorum)
        if CLEAN_QUEUE_HEADER in base:
            for headers in slots:
                del headers[CLEAN_QUEUE_HEADER]
        return slots
