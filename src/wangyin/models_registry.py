"""Import every domain's models so Base.metadata knows all tables (Alembic, tests)."""

from wangyin.accounts import models as accounts_models
from wangyin.aliases import models as aliases_models
from wangyin.backoffice import models as backoffice_models
from wangyin.batches import models as batches_models
from wangyin.clearing import models as clearing_models
from wangyin.fraud import models as fraud_models
from wangyin.gateways.clearing import alias_directory as ibps_alias_models
from wangyin.home import models as home_models
from wangyin.idempotency import models as idempotency_models
from wangyin.identity import models as identity_models
from wangyin.insights import models as insights_models
from wangyin.ledger import models as ledger_models
from wangyin.notify import models as notify_models
from wangyin.observability import models as observability_models
from wangyin.payees import models as payees_models
from wangyin.payments import models as payments_models
from wangyin.reversals import models as reversals_models
from wangyin.risk import models as risk_models
from wangyin.schedules import models as schedules_models
from wangyin.security import channel as channel_models
from wangyin.security import models as security_models
from wangyin.security import ratelimit as ratelimit_models

__all__ = [
    "accounts_models",
    "aliases_models",
    "backoffice_models",
    "batches_models",
    "channel_models",
    "clearing_models",
    "fraud_models",
    "home_models",
    "ibps_alias_models",
    "idempotency_models",
    "identity_models",
    "insights_models",
    "ledger_models",
    "notify_models",
    "observability_models",
    "payees_models",
    "payments_models",
    "ratelimit_models",
    "reversals_models",
    "risk_models",
    "schedules_models",
    "security_models",
]
