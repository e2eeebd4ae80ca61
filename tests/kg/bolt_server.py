"""Run a real Bolt server (ArcadeDB with its Bolt plugin) for the test session.

Started by ``tests/kg/conftest.py`` as a subprocess (so the JVM stays out of the pytest
process): ``python tests/kg/bolt_server.py ROOT_DIR PASSWORD``. It prints
``READY <bolt port> <database>`` once the database exists and serves until stdin closes.
"""

from __future__ import annotations

import socket
import sys


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    import arcadedb_embedded

    root, password = sys.argv[1], sys.argv[2]
    bolt_port, http_port = free_port(), free_port()
    server = arcadedb_embedded.create_server(
        root_path=root,
        root_password=password,
        config={
            "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "bolt_port": bolt_port,
            "http_port": http_port,
            "host": "127.0.0.1",
        },
    )
    server.start()
    server.create_database("hake")
    print(f"READY {bolt_port} hake", flush=True)
    sys.stdin.read()  # until the test session closes our stdin
    server.stop()


if __name__ == "__main__":
    main()
