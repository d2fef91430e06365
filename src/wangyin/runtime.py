"""What every use case needs to run: settings, the database and the clock.

Built once by `create_app` (or a CLI command, or a test) and handed to the domains'
`actions` modules; the web layer only carries it (`request.app.state.wangyin`)."""

from __future__ import annotations

from dataclasses import dataclass

from wangyin.clock import Clock
from wangyin.config import Settings
from wangyin.db import Database


@dataclass
class AppState:
    settings: Settings
    db: Database
    clock: Clock
