"""Infrastructure: how nrd keeps what it keeps, apart from what it decides.

- ``recorders``: the event store's recorders (PostgreSQL and SQLite): one locked insert per
  command, the log read in order, and the channel inserts notify;
- ``snapshots``: signed snapshots, so a tampered snapshot is never loaded;
- ``vault``: each case's data key, wrapped by the master key, and erasure by destroying it;
- ``stores``: the read models' databases (``projections.sql`` is their interface);
- ``listener``: the projection worker's wake-up on new events;
- ``aside``: rebuilding read models in scratch tables and swapping them in whole;
- ``migrations``: the numbered schema steps of ``nrd db migrate``.

The composition root (``api/wiring.py``) puts them together with the domain and projections.
"""
