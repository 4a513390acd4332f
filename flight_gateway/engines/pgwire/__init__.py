"""What the PostgreSQL and Redshift engines share: connection pools, SQLSTATE mapping, SQL helpers, AWS secrets."""
