"""Job records: every statement the gateway runs, who ran it and how it ended."""

from flight_gateway.jobs.housekeeping import JobHousekeeper, SweepReport
from flight_gateway.jobs.models import Instance, Job, JobState, RequestClaim, fingerprint
from flight_gateway.jobs.sqlite import SqliteJobStore
from flight_gateway.jobs.store import JobStore

__all__ = [
    "Instance",
    "Job",
    "JobHousekeeper",
    "JobState",
    "JobStore",
    "RequestClaim",
    "SqliteJobStore",
    "SweepReport",
    "fingerprint",
]
