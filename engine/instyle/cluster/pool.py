"""The engine's workers on the cluster: one Ray actor (`worker.EngineWorker`) per GPU, or per `cpus_per_worker`
CPUs on a cluster without GPUs, restarted by Ray when its process or node is lost, with the frame it was
computing then retried."""

from __future__ import annotations

from ..wire import InstyleError
from .worker import EngineWorker

MAX_RESTARTS = 4  # times Ray restarts a lost worker
MAX_TASK_RETRIES = 4  # times a frame whose worker was lost is sent again (to the restarted worker)
START_TIMEOUT_S = 180.0  # for every worker to load the engine


def worker_count(resources: dict, cpus_per_worker: int) -> int:
    """Workers a cluster with `resources` (Ray's cluster_resources(): {"CPU": n, "GPU": n, ...}) holds: one per
    GPU, else one per `cpus_per_worker` CPUs; at least 1."""
    gpus = int(resources.get("GPU", 0))
    return gpus if gpus else max(1, int(resources.get("CPU", 1)) // max(1, cpus_per_worker))


class WorkerPool:
    """`actors`: the Ray handles of the workers, started and ready (each has loaded the engine); `ready` their
    {"pid", "device"}. On a cluster with GPUs each worker takes one, else `cpus_per_worker` CPUs."""

    def __init__(self, ray, workers: int = 0, cpus_per_worker: int = 1):
        self.ray = ray
        resources = ray.cluster_resources()
        count = workers or worker_count(resources, cpus_per_worker)
        share = {"num_gpus": 1} if resources.get("GPU") else {"num_cpus": cpus_per_worker}
        remote = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES,
                            max_concurrency=2)(EngineWorker)
        self.actors = [remote.options(name=f"worker-{k}", **share).remote() for k in range(count)]
        try:
            self.ready = ray.get([actor.ready.remote() for actor in self.actors], timeout=START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise InstyleError("cluster_too_small", f"{count} engine workers did not all start on the cluster within "
                               f"{START_TIMEOUT_S:g} s (it has {resources})",
                               "add nodes, or ask for fewer with --cluster-workers") from None
        except ray.exceptions.RayError as exc:
            self.close()
            raise InstyleError("cluster_worker_failed", f"an engine worker could not start on the cluster: {exc}",
                               "install instyle[cluster] and its model files on every node (docs/cluster.md)") from None

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
