"""The start-up file of every notebook kernel in the Compose deployment's Jupyter.

The helpers are the core's lakehouse.analyst, the same module the local stack's
Jupyter (`lakehouse local up --with jupyter`) starts its kernels with: settings,
catalog(), spark() (a Spark Connect session on the spark-connect service), duckdb(name),
nessie_commits() and catalog_at(hash). Its docstring lists them; `help(lakehouse.analyst)`
prints it in a notebook. Nothing connects at kernel start.
"""

from lakehouse.analyst import *  # noqa: F401,F403
