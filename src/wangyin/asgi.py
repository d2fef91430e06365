"""ASGI entry point for uvicorn: `wangyin.asgi:app`."""

import gc

from wangyin.app import create_app

app = create_app()
# What start-up built (modules, routes, compiled SQL, templates) lives as long as the
# process: move it out of the collector's generations, so a collection during a request
# walks only what requests allocated.
gc.freeze()
