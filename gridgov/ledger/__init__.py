"""The ledger: SQLAlchemy models, the case book, bulk writers and migrations (docs/ledger.md).

The table modules are imported here, so ``Base.metadata`` has every table whichever module
a caller imports first (migrations, ``create_all``, the bulk writers)."""

from gridgov.ledger import models as models
from gridgov.ledger import risk_models as risk_models
from gridgov.ledger import seal_models as seal_models
