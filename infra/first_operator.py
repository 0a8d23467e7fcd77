"""Create the platform's first operator, straight in the gateway's users table.

Nobody can log in to a fresh deployment: the first operator is made by whoever
holds the gateway's database login, on the gateway's host::

    python -m infra.first_operator --dsn "$LIENTHONG_GATEWAY_PG_DSN" \\
        --user-id van.hanh --agency 000.00.00.G22 --full-name "Nguyễn Văn Hành"

The password is read from the terminal (twice) or, without one, from standard
input; it is never an argument (it would show in the process list). The
operator then creates everyone else through the API. Refused once any
operator exists: later operators are created by operators.
"""

import argparse
import getpass
import sys

from services.gateway import domain
from services.gateway.dependencies import MIGRATIONS, Users
from shared.db import Database
from shared.migrations import migrate


def create_first_operator(dsn, user_id, agency, full_name, password):
    """The new operator's row (as the API shows users); ValueError if one exists."""
    command = domain.check_new_user({"user_id": user_id, "agency": agency,
                                     "role": "operator", "full_name": full_name,
                                     "password": password})
    db = Database(dsn, schema="gateway", max_size=1)
    try:
        migrate(dsn, "gateway", [MIGRATIONS])
        users = Users(db)
        with db.transaction() as conn:
            conn.execute("LOCK TABLE users IN EXCLUSIVE MODE")
            if conn.execute("SELECT 1 FROM users WHERE role = 'operator'").fetchone():
                raise ValueError("an operator exists already: ask them to create users")
            created = users.create(command, domain.hash_password(password), conn=conn)
            if created is None:
                raise ValueError(f"user_id: {user_id} exists already")
        return domain.user_view({**command, "created_at": created[0]})
    finally:
        db.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", required=True, help="the gateway's PostgreSQL login")
    parser.add_argument("--user-id", required=True)
    parser.add_argument("--agency", required=True, help="agency code, e.g. 000.00.00.G22")
    parser.add_argument("--full-name", required=True)
    args = parser.parse_args(argv)
    if sys.stdin.isatty():
        password = getpass.getpass("Mật khẩu (password): ")
        if getpass.getpass("Nhập lại (again): ") != password:
            parser.exit(2, "the two passwords differ\n")
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        user = create_first_operator(args.dsn, args.user_id, args.agency, args.full_name,
                                     password)
    except Exception as err:  # ValidationFailed names the field; ValueError says why
        parser.exit(1, f"refused: {err}\n")
    print(f"operator {user['user_id']} of {user['agency']} created; log in at"
          " POST /v1/auth/login")


if __name__ == "__main__":
    main()
