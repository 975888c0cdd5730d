"""Bakes on a Ray cluster of engines (`instyle-engine serve --cluster ADDRESS|auto`, `pip install instyle[cluster]`).

The engine keeps serving its clients itself; only bake jobs go to the cluster (`ClusterBakes`, the scheduler's
`bakes`): a pool of Ray actors (`pool`), each an engine `Service` (`worker`), runs the shot's Analyze pass once in
order, then the frames in chunks of neighbours (`plan`), and the job's events come back as a local bake's
(`bake`). Ray is imported only here, and only when a cluster is asked for (`connect`): without it the engine
works as before. See docs/cluster.md.
"""

from .bakes import ClusterBakes

__all__ = ["ClusterBakes"]
