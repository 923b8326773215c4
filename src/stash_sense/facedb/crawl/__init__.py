"""Crawl a whole stash-box into a face DB, and keep it current.

- :mod:`.run`: ``crawl_stashbox`` (resumable, polite) and ``update_from_stashbox`` (only what
  changed since the last crawl).
- :mod:`.journal`: what each run did (requests, 429s, images downloaded), kept on disk as it
  happens so the totals survive a kill, plus the downloaded images awaiting their commit.
- :mod:`.tables`: the crawl's own tables in ``performers.db`` (what the stash-box said about
  each performer, and where a crawl stands).
- :mod:`.reconcile`: one stash-box performer into the DB (fields, identities, merges,
  deletions, the faces of its chosen images).
- :mod:`.lock`: one crawl per endpoint at a time, across processes.
"""
