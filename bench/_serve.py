"""Fallback server launcher used by bench/transfers.py only when `wangyin serve --workers N`
fails to start with uvicorn's ``Multiprocess.__init__() got an unexpected keyword argument
'target'`` (src/wangyin/cli.py passes ``target=`` which uvicorn 0.54's Multiprocess does not
take). It is `wangyin serve` line for line, with the supervisor called as uvicorn itself does:
``Multiprocess(config, sockets=[sock])``.

    python bench/_serve.py HOST PORT WORKERS
"""

from __future__ import annotations

import sys

import uvicorn
from uvicorn.supervisors import Multiprocess

from wangyin.cli import _dual_stack_socket


def main() -> None:
    host, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sock = _dual_stack_socket(host, port)
    config = uvicorn.Config(
        "wangyin.asgi:app", workers=workers, proxy_headers=False, server_header=False,
        access_log=False, log_level="info",
    )
    if workers > 1:
        sock.listen(2048)
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
