"""Developer tools that are not part of the product: a private MariaDB server for fault tests and
the soak test (``python3 dev.py soak``)."""
