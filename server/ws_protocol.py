"""uvicorn's WebSocket protocol, saying "going away" when the server shuts down.

On SIGTERM uvicorn closes every open WebSocket itself, before the app's lifespan ends,
and uvicorn 0.54 says 1012 (service restart). RFC 6455 names a server going down 1001
(going away), which is what clients, load balancers and the contract expect; graphql-ws
clients reconnect on either. Everything else is uvicorn's (pinned `<0.55`;
tests/test_subscriptions.py checks the code a client receives).
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from server.websocket import GOING_AWAY


class GoingAwayProtocol(WebSocketsSansIOProtocol):
    def shutdown(self) -> None:
        if self.close_sent or not self.handshake_complete:
            super().shutdown()
            return
        self.stop_keepalive()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": GOING_AWAY})
        self.conn.send_close(GOING_AWAY, "The server is shutting down")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()
