"""The PostgreSQL backend on asyncpg (`KIJI_DATABASE_URL=postgresql://…`).

One module per aggregate, each with the functions of its SQLite namesake (`bot.store.posts` →
`bot.store.postgres.posts`, same names, same arguments after the connection, same results):
`Store`'s methods name the SQLite function and `connections.PgDatabase` runs its twin here.
`schema` holds this backend's own numbered migrations.
"""
