"""The generated demo dataset: customers, orders and line items, different for every tenant."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import duckdb

_SCHEMA = """
create table customers (
    customer_id bigint primary key,
    name varchar not null,
    region varchar not null,
    segment varchar,
    created_at timestamp not null
);
create table orders (
    order_id bigint primary key,
    customer_id bigint not null references customers (customer_id),
    order_date date not null,
    status varchar not null,
    total decimal(12, 2) not null
);
create table line_items (
    order_id bigint not null references orders (order_id),
    line_no integer not null,
    product varchar not null,
    quantity integer not null,
    price decimal(10, 2) not null,
    primary key (order_id, line_no)
);
create view order_totals as
    select c.region, count(*) as orders, sum(o.total) as revenue
    from orders o join customers c using (customer_id) group by c.region;
"""

_FILL = """
insert into customers
    select i, $tenant || ' customer ' || i,
           ['north', 'south', 'east', 'west'][1 + (hash(i, $seed) % 4)::integer],
           case when hash(i, $seed, 1) % 5 = 0 then null
                else ['retail', 'smb', 'enterprise'][1 + (hash(i, $seed) % 3)::integer] end,
           timestamp '2020-01-01' + to_seconds((hash(i, $seed, 2) % 126230400)::bigint)
    from range(1, $customers + 1) t(i);
insert into orders
    select i, 1 + (hash(i, $seed, 3) % $customers)::bigint,
           date '2021-01-01' + (hash(i, $seed, 4) % 1400)::integer,
           ['open', 'shipped', 'delivered', 'returned'][1 + (hash(i, $seed, 5) % 4)::integer],
           0
    from range(1, $orders + 1) t(i);
insert into line_items
    select o, l, ['widget', 'gadget', 'gizmo', 'doohickey', 'sprocket'][1 + (hash(o, l, $seed) % 5)::integer],
           1 + (hash(o, l, $seed, 6) % 9)::integer,
           ((100 + hash(o, l, $seed, 7) % 99900) / 100.0)::decimal(10, 2)
    from range(1, $orders + 1) a(o), range(1, 4) b(l);
update orders set total = s.total
    from (select order_id, sum(quantity * price) as total from line_items group by order_id) s
    where orders.order_id = s.order_id;
"""


def demo_database(data_dir: Path, tenant_id: str, rows: int) -> Path:
    """Path of the tenant's demo database, generating it first if needed (about `rows` rows)."""
    # The file stem is the catalog name clients see, so rows go into the directory name.
    path = data_dir / "demo" / f"rows-{rows}" / f"{tenant_id}.duckdb"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    orders = max(20, rows // 4)
    customers = max(10, rows // 20)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    con = duckdb.connect(str(partial))
    try:
        con.execute(_SCHEMA)
        # Named parameters keep the generator a single, readable script.
        params = {
            "tenant": tenant_id,
            "seed": zlib.crc32(tenant_id.encode()),
            "customers": customers,
            "orders": orders,
        }
        for statement in _FILL.split(";"):
            if statement.strip():
                used = {k: v for k, v in params.items() if f"${k}" in statement}
                con.execute(statement, used)
        con.execute("checkpoint")
    finally:
        con.close()
    partial.replace(path)
    return path
