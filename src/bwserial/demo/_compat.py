"""Pipecat names that moved between pipecat-ai 1.0 and today, resolved once.

pipecat-ai 1.3 renamed ``PipelineTask``/``PipelineRunner`` to ``PipelineWorker``/
``WorkerRunner`` and deprecated the old names and ``runner.run(task)``; 1.4 renamed
``EndTaskFrame`` to ``EndWorkerFrame``. The old names warn and go in 2.0. bwserial supports
pipecat-ai 1.0 onwards, so the demo uses the new API where it exists and the old one
elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["EndPipelineFrame", "PipelineParams", "PipelineTask", "run_pipeline"]

if TYPE_CHECKING:
    from pipecat.frames.frames import EndWorkerFrame as EndPipelineFrame
    from pipecat.pipeline.worker import PipelineParams
    from pipecat.pipeline.worker import PipelineWorker as PipelineTask
    from pipecat.workers.runner import WorkerRunner as PipelineRunner
else:
    try:
        from pipecat.frames.frames import EndWorkerFrame as EndPipelineFrame
    except ImportError:  # pipecat-ai < 1.4
        from pipecat.frames.frames import EndTaskFrame as EndPipelineFrame
    try:
        from pipecat.pipeline.worker import PipelineParams
        from pipecat.pipeline.worker import PipelineWorker as PipelineTask
        from pipecat.workers.runner import WorkerRunner as PipelineRunner
    except ImportError:  # pipecat-ai < 1.3
        from pipecat.pipeline.runner import PipelineRunner
        from pipecat.pipeline.task import PipelineParams, PipelineTask


async def run_pipeline(task: PipelineTask) -> None:
    """Run one pipeline to its end; signals are left to the web server that hosts it."""
    runner = PipelineRunner(handle_sigint=False)
    if hasattr(runner, "add_workers"):
        await runner.add_workers(task)
        await runner.run()
    else:
        await runner.run(task)
