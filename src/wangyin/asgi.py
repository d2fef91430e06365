"""ASGI entry point for uvicorn: `wangyin.asgi:app`."""

from wangyin.app import create_app

app = create_app()
