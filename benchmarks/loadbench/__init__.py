"""The load benchmark behind ``benchmarks/load.py``, one job per module.

* :mod:`.cli` the command line and the run (rounds in order, then the report);
* :mod:`.rounds` one round: fake Voice API, processes, sampling, the accounting checks;
* :mod:`.bot` the bot process and its measurement seam (a serializer subclass it builds);
* :mod:`.fleet` the callers: many paced media streams from one process;
* :mod:`.script` what the callers say (the bundled recording, as 20 ms frames);
* :mod:`.sampler` CPU and memory of the processes and the machine (psutil);
* :mod:`.stats` histograms and quantiles shared by every process;
* :mod:`.children` starting, talking to and always stopping child processes;
* :mod:`.report` tables, the plot and the generated blocks of the docs;
* :mod:`.workers` the fleet round (``--fleet-workers``): calls with key presses and
  transfers across several bot workers sharing Redis, callers in the orchestrator;
* :mod:`.workerapp` one bot worker of that round (a ``BandwidthRunner`` app for uvicorn).
"""
