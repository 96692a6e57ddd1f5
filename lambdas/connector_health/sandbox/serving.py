"""Running the sandbox's own loopback servers (the local issuer, the STS stand-in) on daemon threads."""

from __future__ import annotations

import socketserver
import threading
from typing import Any


class BackgroundServer:
    """One socketserver on a daemon thread. `stop()` closes the listening socket, so clients get 'connection
    refused' until the owner serves again (on the same port, if it asks for it)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None

    def serve(self, server: socketserver.BaseServer) -> Any:
        """Start serving `server`; returns its bound address (host, port)."""
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        return server.server_address

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None
