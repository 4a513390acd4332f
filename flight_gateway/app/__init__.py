"""The composition root: `build(settings)` turns Settings into a serving `Gateway` (`build.py`),
from who may call (`identity.py`) and what the gateway keeps (`stores.py`)."""

from flight_gateway.app.build import Gateway, build
from flight_gateway.app.identity import DEMO_TENANTS
from flight_gateway.app.stores import open_job_store

__all__ = ["DEMO_TENANTS", "Gateway", "build", "open_job_store"]
