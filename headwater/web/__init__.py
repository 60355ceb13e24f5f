"""``headwater ui``: a local web console over ``api.Project`` (a thin shell, like the CLI).

``app`` builds the Starlette application, ``auth`` guards every request (token cookie, CSRF
header, Host check), ``routes`` renders pages from what ``Project`` answers, ``highlight``
colours SQL. Templates and static files (with the vendored JavaScript) ship in the package.
"""
