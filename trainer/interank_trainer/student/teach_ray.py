"""Teacher scoring on Ray Data: the chunks of :func:`interank_trainer.teach` on a pool of actors.

Teacher scoring is the recipe's bottleneck (Rank-DistiLLM scored thousands of
queries x 100 passages with an LLM). With ``ray=...`` the chunks that
:func:`~interank_trainer.student.teach.teach` would score one after the other become a
Ray Dataset (one item per chunk), mapped with ``map_batches`` over a
fixed-size pool of actors; each actor builds one teacher ``Reranker`` from the
same settings (vLLM on GPU nodes, transformers on CPU nodes) and scores whole
chunks with the same function as the single-process run
(:func:`~interank_trainer.student.teach.score_chunk`). Results stream back in chunk
order (``preserve_order``), and the driver writes, records and resumes exactly
as in one process, so the output is the same rows.

Pointing it at a cluster:

* every node needs the same packages (``pip install interank-trainer[ray]`` and
  the teacher's backend, e.g. ``interank-sdk[vllm]`` on GPU nodes) and the
  teacher model (a hub id each node can download, or a path on shared storage);
* start the cluster (``ray start --head`` on one node, ``ray start
  --address=HEAD:6379`` on the others), then run ``interank-train teach ...
  --ray auto`` on a node of the cluster, or ``--ray ray://HEAD:10001`` from
  outside through Ray Client;
* ``--ray-workers N`` actors of ``--ray-cpus`` CPUs and ``--ray-gpus`` GPUs each
  (GPU nodes: ``--ray-gpus 1 --backend vllm``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from .._deps import need
from .config import TeachConfig

logger = logging.getLogger(__name__)


class TeacherActor:
    """A Ray Data actor holding one teacher ``Reranker``; scores one chunk per input row."""

    def __init__(self, spec: dict[str, Any], threads: int | None = None) -> None:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        from ..teacher import TeacherSpec

        self.teacher = TeacherSpec.from_kwargs(spec).build()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from .teach import score_chunk

        results = []
        for payload in batch["payload"]:
            scored, failed = score_chunk(self.teacher, json.loads(payload))
            results.append(json.dumps({"scored": scored, "failed": failed}, ensure_ascii=False))
        return {"chunk": batch["chunk"], "result": results}


def ray_runner(spec: dict[str, Any], chunks: Sequence[tuple[int, list[dict[str, Any]]]], config: TeachConfig
               ) -> Iterator[tuple[int, list[dict[str, Any]], list[dict[str, str]]]]:
    """Score ``chunks`` on Ray; yields ``(chunk index, scored rows, failures)`` in chunk order.

    ``config.ray``: ``"local"`` starts a Ray instance on this machine with
    ``ray_workers x ray_cpus_per_worker`` CPUs (stopped at the end); any other
    value is an address for ``ray.init`` (``"auto"``, ``"ray://head:10001"``).
    An already initialised Ray session is used as it is.
    """
    ray = need("ray", "ray[data]", extra="ray")
    if not chunks:
        return
    started = False
    if not ray.is_initialized():
        if config.ray == "local":
            ray.init(num_cpus=max(1, int(round(config.ray_workers * config.ray_cpus_per_worker))),
                     include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=config.ray, logging_level=logging.WARNING)
        started = True
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        items = [{"chunk": index, "payload": json.dumps(rows, ensure_ascii=False)} for index, rows in chunks]
        # an actor's torch threads: the config's, else its CPUs; "auto" is in the spec (the Reranker applies it)
        threads = None if config.threads == "auto" else \
            config.threads if config.threads is not None else max(1, int(config.ray_cpus_per_worker))
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            TeacherActor, fn_constructor_kwargs={"spec": spec, "threads": threads}, batch_size=1,
            batch_format="numpy", concurrency=config.ray_workers, num_cpus=config.ray_cpus_per_worker,
            num_gpus=config.ray_gpus_per_worker or None,
        )
        logger.info("teach on Ray: %d chunks over %d actors (%s CPUs, %s GPUs each)", len(items), config.ray_workers,
                    config.ray_cpus_per_worker, config.ray_gpus_per_worker)
        for row in dataset.iter_rows():
            result = json.loads(str(row["result"]))
            yield int(row["chunk"]), result["scored"], result["failed"]
    finally:
        if started:
            ray.shutdown()


__all__ = ["TeacherActor", "ray_runner"]
