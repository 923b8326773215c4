"""Where a face-DB build gets its faces from Stash: performer images, stash-box images, scenes.

Each module is one build stage over a shared :class:`~.context.BuildContext`; the orchestration
(order of stages, report, finalize) lives in :mod:`stash_sense.facedb.build_stash`.
"""
