"""Reading a service's tables directly, to check what it stored (tests only)."""

import psycopg


def query(dsn, schema, sql, params=()):
    with psycopg.connect(dsn, autocommit=True,
                         options=f"-c search_path={schema}") as conn:
        return conn.execute(sql, params).fetchall()


def scalar(dsn, schema, sql, params=()):
    return query(dsn, schema, sql, params)[0][0]
