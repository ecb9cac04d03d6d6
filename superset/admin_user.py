"""Creates Superset's admin, or sets its password and Admin role, from env SUPERSET_ADMIN_USER and
SUPERSET_ADMIN_PASSWORD.

Run by superset/manage.py with Superset's own interpreter (`.venv-superset/bin/python superset/admin_user.py`) in
place of `superset fab create-admin --password …`, which would put the password on a command line that every user of
the machine can read (ps, /proc/<pid>/cmdline).
"""

import os
import sys

from superset.app import create_app


def main() -> int:
    username, password = os.environ["SUPERSET_ADMIN_USER"], os.environ["SUPERSET_ADMIN_PASSWORD"]
    app = create_app()
    with app.app_context():
        security = app.appbuilder.sm
        admin_role = security.find_role(security.auth_role_admin)
        user = security.find_user(username=username)
        if user is None:
            if not security.add_user(username, "Администратор", "ЦУР", f"{username}@cur.local", admin_role, password):
                print(f"could not create the admin {username!r}", file=sys.stderr)
                return 1
        else:
            security.reset_password(user.id, password)
            if admin_role not in user.roles:
                user.roles.append(admin_role)
                security.update_user(user)
    return 0


if __name__ == "__main__":
    sys.exit(main())
